package dev.igate.predictor.batching;

/** What a batcher reports, for metrics. Called on batcher and caller threads; must not block. */
public interface BatchListener {

    BatchListener NONE = new BatchListener() {
    };

    /** A batch ran: its jobs, its rows, how long the run took and where it ran. */
    default void executed(int jobs, int rows, long runNanos, Placement placement) {
    }

    /**
     * A batch ran, with its jobs (each with its {@link Scheduling#trace()} and queue times), its
     * padded length (the longest job's row length; 0 for tensor jobs), when it started
     * ({@link System#nanoTime()}) and how long it took: what a trace's run span is made of. Called
     * after the run, on the batcher's thread; must not block.
     */
    default void ran(java.util.List<? extends BatchJob<?>> jobs, int rows, int paddedLength, long startNanos, long runNanos,
                     Placement placement) {
    }

    /** A batch of inference jobs ran (not an explanation's piece): its rows and how long the run took. */
    default void inferred(int rows, long runNanos) {
    }

    /**
     * An inference job's batch ran and the job was answered (explanation pieces are not reported): with a value or an error, after waiting
     * {@code queueNanos} and running {@code runNanos} (its batch's run).
     */
    default void finished(boolean succeeded, long queueNanos, long runNanos) {
    }

    /** A job waited this long before its batch started. */
    default void queued(long waitNanos) {
    }

    /** A job was refused because the queue was full. */
    default void rejected() {
    }

    /** A job's timeout expired while it was queued. */
    default void timedOut() {
    }

    /** A job's caller went away while it was queued. */
    default void cancelled() {
    }
}
