package dev.igate.gateway.serving;

import java.time.Duration;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

import dev.igate.protocol.ServerBusyException;

/**
 * A fixed set of daemon threads behind a bounded queue, for blocking work handed off by event
 * loops: work beyond the queue is refused at once with {@link ServerBusyException} (503 +
 * Retry-After), never queued without bound.
 */
final class BoundedPool {

    private final ThreadPoolExecutor executor;
    private final String what;
    private final Duration retryAfter;

    /**
     * @param name       thread name prefix
     * @param what       what the queue holds, for the 503 message ("tokenizations", "explanations")
     * @param retryAfter what the 503 tells clients to wait
     */
    BoundedPool(String name, int threads, int capacity, String what, Duration retryAfter) {
        AtomicInteger n = new AtomicInteger();
        this.executor = new ThreadPoolExecutor(threads, threads, 0, TimeUnit.MILLISECONDS, new ArrayBlockingQueue<>(capacity), r -> {
            Thread t = new Thread(r, name + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        this.what = what;
        this.retryAfter = retryAfter;
    }

    /**
     * Runs work on the pool.
     *
     * @throws ServerBusyException when the queue is full
     */
    <T> CompletableFuture<T> supply(Supplier<T> work) {
        try {
            return CompletableFuture.supplyAsync(work, executor);
        } catch (RejectedExecutionException e) {
            throw new ServerBusyException(executor.getQueue().size() + " " + what + " are queued, retry later", retryAfter);
        }
    }

    void shutdown() {
        executor.shutdownNow();
    }
}
