package dev.igate.predictor.batching;

import java.util.List;

/**
 * Runs a batch of compatible jobs as one model execution.
 *
 * @param <J> the job type
 */
@FunctionalInterface
public interface BatchExecutor<J extends BatchJob<?>> {

    /**
     * Runs the jobs together and completes each job's future with its own part of the result.
     * Called on a batcher worker thread; may block. If it throws, the batcher fails every job
     * of the batch that is not complete yet.
     */
    void execute(List<J> batch);
}
