package dev.igate.predictor.batching;

import java.util.List;

/**
 * Runs a batch of compatible jobs as one model execution, on the instance the batcher chose.
 *
 * @param <J> the job type
 */
public interface BatchExecutor<J extends BatchJob<?>> {

    /**
     * Runs the jobs together and completes each job's future with its own part of the result.
     * Called on a batcher worker thread; may block. If it throws, the batcher fails every job
     * of the batch that is not complete yet.
     *
     * @param placement the instance (or the solo session) to run on
     */
    void execute(List<J> batch, Placement placement);

    /** Runs that may be in flight at once: the batcher starts one worker per instance. */
    default int instances() {
        return 1;
    }

    /** Whether a batch headed by {@code first} may run on the solo session. */
    default boolean canRunSolo(J first) {
        return false;
    }
}
