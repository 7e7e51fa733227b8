package dev.igate.predictor.batching;

import java.util.concurrent.CompletableFuture;

/**
 * One caller's request to a {@link DynamicBatcher}: some rows, a key saying which other jobs it
 * may share a run with, and the future the caller waits on.
 *
 * <p>Ownership: the caller creates the job and may cancel its future at any time; from
 * {@link DynamicBatcher#submit} on, the batcher guarantees the future completes exactly once
 * (result, error, timeout or cancellation).
 *
 * @param <R> what the caller gets back
 */
public abstract class BatchJob<R> {

    private final int rows;
    private final Object key;
    private final CompletableFuture<R> future = new CompletableFuture<>();
    volatile long enqueuedNanos;
    /** Where the job sorts in its queue: when it came, plus what its priority level is worth (see priority-aging). */
    long orderNanos;
    volatile long dequeuedNanos;
    /** The queue timeout of this job, cancelled as soon as the job completes (so nothing keeps it reachable). */
    volatile java.util.concurrent.Future<?> timeout;
    private Scheduling scheduling = Scheduling.DEFAULT;

    protected BatchJob(int rows, Object key) {
        if (rows < 1) {
            throw new IllegalArgumentException("a job has at least one row");
        }
        this.rows = rows;
        this.key = key;
    }

    public int rows() {
        return rows;
    }

    /** Jobs with equal keys may run in one batch. */
    public Object key() {
        return key;
    }

    public CompletableFuture<R> future() {
        return future;
    }

    /** Sets the job's priority and queue timeout; call before submitting it. */
    public BatchJob<R> schedule(Scheduling scheduling) {
        this.scheduling = scheduling;
        return this;
    }

    public Scheduling scheduling() {
        return scheduling;
    }

    /** Padded tokens per row when the job is token rows (its longest row), else 0: what max-batch-tokens counts. */
    public int rowLength() {
        return 0;
    }

    /** When the job was queued ({@link System#nanoTime()}). */
    public long enqueuedNanos() {
        return enqueuedNanos;
    }

    /** When its batch took it ({@link System#nanoTime()}; valid once it was taken into a batch). */
    public long dequeuedNanos() {
        return dequeuedNanos;
    }

    /** Nanoseconds the job waited in the queue (valid once it was taken into a batch). */
    public long queueNanos() {
        return dequeuedNanos - enqueuedNanos;
    }
}
