package dev.igate.predictor.batching;

/** What a batcher reports, for metrics. Called on batcher and caller threads; must not block. */
public interface BatchListener {

    BatchListener NONE = new BatchListener() {
    };

    /** A batch ran: its jobs, its rows, how long the run took and where it ran. */
    default void executed(int jobs, int rows, long runNanos, Placement placement) {
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
