package dev.igate.predictor.batching;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

import dev.igate.protocol.InferenceFailedException;
import dev.igate.protocol.ModelNotReadyException;
import dev.igate.protocol.ServerBusyException;

/**
 * Dynamic batching for one model version: callers {@link #submit} jobs, dedicated worker
 * threads merge compatible queued jobs into one run of at most {@code maxBatchSize} rows.
 *
 * <p>When a batch goes: as soon as it is full, or when its oldest job has waited
 * {@code maxLatency}. A worker that finds a lone job and saw no concurrent load in its last
 * batch sends it at once (as Triton does without a queue delay), so light traffic pays no
 * batching latency; under load it waits up to {@code maxLatency} for companions.
 *
 * <p>Overload: a full queue refuses at once with {@link ServerBusyException} (503 +
 * Retry-After); a job still queued when its timeout expires is answered with
 * {@link ServerBusyException} and never run; a job whose future is cancelled leaves the queue.
 * Every submitted job's future completes exactly once.
 *
 * @param <J> the job type
 */
public final class DynamicBatcher<J extends BatchJob<?>> implements AutoCloseable {

    private static final ScheduledExecutorService TIMEOUTS = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "batcher-timeouts");
        t.setDaemon(true);
        return t;
    });

    private final String name;
    private final BatchingSettings settings;
    private final BatchExecutor<J> executor;
    private final BatchListener listener;
    private final long maxLatencyNanos;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition arrived = lock.newCondition();
    private final LinkedList<J> queue = new LinkedList<>();
    private final List<Thread> workers = new ArrayList<>();
    private volatile boolean running = true;
    private final AtomicInteger runningBatches = new AtomicInteger();
    private final DeviceGate gate;
    private int lastBatchRows;

    public DynamicBatcher(String name, BatchingSettings settings, BatchExecutor<J> executor, BatchListener listener) {
        this(name, settings, executor, listener, DeviceGate.UNLIMITED);
    }

    /**
     * @param gate shared with the batchers of other sessions on the same device: a worker holds it
     *             while it forms and runs a batch, so jobs queue up while another session runs
     */
    public DynamicBatcher(String name, BatchingSettings settings, BatchExecutor<J> executor, BatchListener listener,
                          DeviceGate gate) {
        this.gate = gate;
        this.name = name;
        this.settings = settings;
        this.executor = executor;
        this.listener = listener;
        this.maxLatencyNanos = settings.maxLatency().toNanos();
        ThreadFactory threads = daemonThreads("batch-" + name);
        for (int i = 0; i < settings.concurrency(); i++) {
            Thread t = threads.newThread(this::work);
            workers.add(t);
            t.start();
        }
    }

    private static ThreadFactory daemonThreads(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    public BatchingSettings settings() {
        return settings;
    }

    /**
     * Queues a job. Never blocks.
     *
     * @return the job's future, which the batcher completes
     * @throws ServerBusyException   when the queue is full
     * @throws ModelNotReadyException when the batcher was closed
     */
    public <R> java.util.concurrent.CompletableFuture<R> submit(BatchJob<R> job) {
        @SuppressWarnings("unchecked")
        J typed = (J) job;
        lock.lock();
        try {
            if (!running) {
                throw new ModelNotReadyException("Model " + name + " is unloading");
            }
            if (queue.size() >= settings.queueCapacity()) {
                listener.rejected();
                throw new ServerBusyException("Model " + name + " has " + queue.size() + " requests queued, retry later",
                        Duration.ofSeconds(1));
            }
            job.enqueuedNanos = System.nanoTime();
            queue.addLast(typed);
            // idle workers and a worker waiting for companions share the condition: wake them all (few)
            arrived.signalAll();
        } finally {
            lock.unlock();
        }
        TIMEOUTS.schedule(() -> expire(typed), settings.timeout().toNanos(), TimeUnit.NANOSECONDS);
        job.future().whenComplete((r, e) -> {
            if (e instanceof CancellationException && remove(typed)) {
                listener.cancelled();
            }
        });
        return job.future();
    }

    private void expire(J job) {
        if (remove(job)) {
            listener.timedOut();
            job.future().completeExceptionally(new ServerBusyException("Request timed out after " + settings.timeout().toMillis()
                    + " ms in the queue of model " + name, Duration.ofSeconds(1)));
        }
    }

    private boolean remove(J job) {
        lock.lock();
        try {
            return queue.remove(job);
        } finally {
            lock.unlock();
        }
    }

    /** Jobs waiting for a worker. */
    public int queueDepth() {
        lock.lock();
        try {
            return queue.size();
        } finally {
            lock.unlock();
        }
    }

    private void work() {
        while (running) {
            try {
                awaitJob();
                if (!running) {
                    return;
                }
                // companions are awaited before the device is taken: waiting must not keep other versions off it
                awaitCompanions();
                // the batch is formed once the device is ours: what queued while another session ran goes with it
                if (!acquireGate()) {
                    return;
                }
            } catch (InterruptedException e) {
                return;
            }
            try {
                List<J> batch = takeBatch();
                if (batch != null) {
                    run(batch);
                }
            } finally {
                gate.release();
            }
        }
    }

    /** Blocks until a job is queued or the batcher closes. */
    private void awaitJob() throws InterruptedException {
        lock.lockInterruptibly();
        try {
            while (queue.isEmpty() && running) {
                arrived.await();
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Under load, waits until the oldest request's companions fill a batch or it has waited
     * {@code max-latency}; a lone request after a lone batch goes at once. Takes nothing.
     */
    private void awaitCompanions() throws InterruptedException {
        lock.lockInterruptibly();
        try {
            boolean underLoad = queue.size() > 1 || lastBatchRows > 1;
            if (!underLoad || maxLatencyNanos == 0) {
                return;
            }
            while (running && !queue.isEmpty()) {
                // the head may change meanwhile (expired, cancelled, taken by a sibling worker): judge the current one
                J first = queue.getFirst();
                long remaining = first.enqueuedNanos + maxLatencyNanos - System.nanoTime();
                if (compatibleRows(first) >= settings.maxBatchSize() || remaining <= 0) {
                    return;
                }
                arrived.awaitNanos(remaining);
            }
        } finally {
            lock.unlock();
        }
    }

    /** Takes the device gate, or gives up once the batcher closes (a closing batcher must not wait its turn). */
    private boolean acquireGate() throws InterruptedException {
        while (!gate.tryAcquire(50, TimeUnit.MILLISECONDS)) {
            if (!running) {
                return false;
            }
        }
        return true;
    }

    /** The oldest request and the queued ones that can share its run, up to max-batch-size rows; null when none is left. */
    private List<J> takeBatch() {
        lock.lock();
        try {
            if (queue.isEmpty()) {
                return null;
            }
            J first = queue.getFirst();
            List<J> batch = new ArrayList<>();
            int rows = 0;
            long now = System.nanoTime();
            for (Iterator<J> it = queue.iterator(); it.hasNext(); ) {
                J job = it.next();
                if (!job.key().equals(first.key())) {
                    continue;
                }
                if (!batch.isEmpty() && rows + job.rows() > settings.maxBatchSize()) {
                    break;
                }
                it.remove();
                job.dequeuedNanos = now;
                batch.add(job);
                rows += job.rows();
            }
            lastBatchRows = rows;
            return batch;
        } finally {
            lock.unlock();
        }
    }

    private int compatibleRows(J first) {
        int rows = 0;
        for (J job : queue) {
            if (job.key().equals(first.key())) {
                rows += job.rows();
            }
        }
        return rows;
    }

    private void run(List<J> batch) {
        runningBatches.incrementAndGet();
        try {
            runLive(batch);
        } finally {
            runningBatches.decrementAndGet();
        }
    }

    private void runLive(List<J> batch) {
        List<J> live = new ArrayList<>(batch.size());
        for (J job : batch) {
            if (!job.future().isDone()) {
                live.add(job);
                listener.queued(job.queueNanos());
            }
        }
        if (live.isEmpty()) {
            return;
        }
        int rows = live.stream().mapToInt(BatchJob::rows).sum();
        long start = System.nanoTime();
        try {
            executor.execute(live);
        } catch (RuntimeException | Error e) {
            for (J job : live) {
                job.future().completeExceptionally(e instanceof dev.igate.protocol.InferenceException ? e
                        : new InferenceFailedException("Batch run failed: " + e.getMessage(), e));
            }
        } finally {
            listener.executed(live.size(), rows, System.nanoTime() - start);
            for (J job : live) {
                if (!job.future().isDone()) {
                    job.future().completeExceptionally(new InferenceFailedException("Batch executor left a job unanswered", null));
                }
            }
        }
    }

    /**
     * Waits until nothing has been queued or running for 200 ms in a row, or {@code limit} has
     * passed: the way to let a replaced version finish its work before {@link #close()}. Blocking.
     */
    public void awaitIdle(Duration limit) {
        long deadline = System.nanoTime() + limit.toNanos();
        long idleSince = -1;
        while (System.nanoTime() < deadline) {
            boolean idle = queueDepth() == 0 && runningBatches.get() == 0;
            long now = System.nanoTime();
            if (!idle) {
                idleSince = -1;
            } else if (idleSince < 0) {
                idleSince = now;
            } else if (now - idleSince >= 200_000_000L) {
                return;
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** Stops the workers after their current batch; queued jobs are answered with 503. */
    @Override
    public void close() {
        List<J> left;
        lock.lock();
        try {
            running = false;
            left = new ArrayList<>(queue);
            queue.clear();
            arrived.signalAll();
        } finally {
            lock.unlock();
        }
        for (J job : left) {
            job.future().completeExceptionally(new ModelNotReadyException("Model " + name + " was unloaded"));
        }
        // the session must outlive every run: wait for the workers whatever it takes
        for (Thread t : workers) {
            boolean interrupted = false;
            while (t.isAlive()) {
                try {
                    t.join();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
