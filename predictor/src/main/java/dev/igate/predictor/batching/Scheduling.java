package dev.igate.predictor.batching;

import java.time.Duration;

/**
 * Triton's per-request scheduling parameters: a priority level (1 is the highest; 0, the
 * default, is level 1) and a queue timeout (null: the batcher's own; a request's timeout can
 * shorten the batcher's, not lengthen it); and the trace the request belongs to, opaque here: the
 * batcher hands it back to its {@link BatchListener} with the run that served the job.
 */
public record Scheduling(long priority, Duration timeout, Object trace) {

    public static final Scheduling DEFAULT = new Scheduling(0, null, null);

    public Scheduling(long priority, Duration timeout) {
        this(priority, timeout, null);
    }

    /** These parameters, for a job of the request traced by {@code trace} (null: none). */
    public Scheduling traced(Object trace) {
        return new Scheduling(priority, timeout, trace);
    }

    public Scheduling {
        if (priority < 0) {
            throw new IllegalArgumentException("priority must be 0 (default) or a level from 1, was " + priority);
        }
        if (timeout != null && timeout.isNegative()) {
            throw new IllegalArgumentException("timeout must not be negative, was " + timeout);
        }
    }

    /** The level the queue orders by: 1 for the default. */
    public long level() {
        return priority == 0 ? 1 : priority;
    }
}
