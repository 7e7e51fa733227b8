package dev.igate.gateway.model;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import dev.igate.protocol.ModelNotReadyException;

/**
 * The work in flight on one model version, of every kind (tokenizations, queued and running
 * batches, explanations), as Triton's schedulers count it: a version's native resources (ONNX
 * Runtime sessions, the tokenizer) are closed only once the count is zero and no new work can
 * start. Work takes a {@link Lease} before it touches the version and closes it when done.
 *
 * <p>Taking and ending a lease never blocks (they run on event loops): one atomic word holds the
 * count and the closed flag, and only the thread that retires the version waits.
 */
final class InFlight {

    private static final long CLOSED = 1L << 62;
    private static final long COUNT = CLOSED - 1;

    /** One unit of work in flight; closing it more than once counts once. */
    final class Lease implements AutoCloseable {
        private final AtomicBoolean ended = new AtomicBoolean();

        private Lease() {
        }

        @Override
        public void close() {
            if (ended.compareAndSet(false, true) && (state.decrementAndGet() & COUNT) == 0) {
                CompletableFuture<Void> waiting = idle;
                if (waiting != null) {
                    waiting.complete(null);
                }
            }
        }
    }

    private final String what;
    private final AtomicLong state = new AtomicLong();
    /** Completed when the count reaches zero; replaced by the waiter before each check. */
    private volatile CompletableFuture<Void> idle;

    /** @param what the version, for the 503 of work that comes after the close ("Model m version 1") */
    InFlight(String what) {
        this.what = what;
    }

    /**
     * @throws ModelNotReadyException once the version was closed to new work
     */
    Lease acquire() {
        while (true) {
            long s = state.get();
            if ((s & CLOSED) != 0) {
                throw new ModelNotReadyException(what + " was unloaded");
            }
            if (state.compareAndSet(s, s + 1)) {
                return new Lease();
            }
        }
    }

    /** Work in flight now. */
    int count() {
        return (int) (state.get() & COUNT);
    }

    /**
     * Waits until nothing is in flight, up to {@code limit}, then refuses new work: atomically, so
     * nothing can start between the last lease ending and the close. Blocking.
     *
     * @return whether everything finished within the limit (else work is still in flight)
     */
    boolean drainThenClose(Duration limit) {
        long deadline = System.nanoTime() + limit.toNanos();
        while (true) {
            CompletableFuture<Void> signal = new CompletableFuture<>();
            idle = signal;
            if (state.compareAndSet(0, CLOSED)) {
                return true;
            }
            long left = deadline - System.nanoTime();
            if (left <= 0 || !awaitSignal(signal, left)) {
                return (state.getAndUpdate(s -> s | CLOSED) & COUNT) == 0;
            }
        }
    }

    /** Waits until nothing is in flight, whatever it takes (call after closing: what is left ends quickly). */
    void awaitNone() {
        boolean interrupted = false;
        while (true) {
            CompletableFuture<Void> signal = new CompletableFuture<>();
            idle = signal;
            if (count() == 0) {
                break;
            }
            if (!awaitSignal(signal, TimeUnit.SECONDS.toNanos(1))) {
                Thread.interrupted(); // waits on regardless; the interrupt is restored at the end
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** @return false when interrupted (the interrupt is kept) */
    private static boolean awaitSignal(CompletableFuture<Void> signal, long nanos) {
        try {
            signal.get(nanos, TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            // checked again by the caller
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } catch (ExecutionException e) {
            throw new IllegalStateException(e);
        }
        return true;
    }
}
