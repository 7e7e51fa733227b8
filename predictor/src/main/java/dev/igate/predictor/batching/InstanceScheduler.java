package dev.igate.predictor.batching;

import java.util.concurrent.CompletableFuture;

/**
 * Takes jobs for a model version's instances: the version's {@link DynamicBatcher}, which runs
 * them in their turn on the device. What an explainer is given to run its pieces.
 */
public interface InstanceScheduler {

    /**
     * Runs each {@link InstanceJob} at once on the caller's thread, on instance 0: for tools and
     * tests that use a model without a server around it.
     */
    InstanceScheduler CALLER_THREAD = new InstanceScheduler() {
        @Override
        public <R> CompletableFuture<R> submit(BatchJob<R> job) {
            if (!(job instanceof InstanceJob<R> task)) {
                throw new UnsupportedOperationException("only instance jobs run on the caller's thread");
            }
            try {
                task.runOn(new Placement(0));
            } catch (RuntimeException | Error e) {
                task.future().completeExceptionally(e);
            }
            return task.future();
        }
    };

    /**
     * Queues a job. Never blocks.
     *
     * @throws dev.igate.protocol.ServerBusyException   when the queue is full
     * @throws dev.igate.protocol.ModelNotReadyException when the version is unloading
     */
    <R> CompletableFuture<R> submit(BatchJob<R> job);
}
