package dev.igate.predictor.batching;

import java.util.function.Function;

/**
 * Work that brings its own code and needs an instance of the model version: a piece of an
 * explanation (gradients of some path points) run on that instance's gradient session. It takes
 * its turn in the version's queue and on the device like any batch, so explanations and
 * predictions share the cores instead of oversubscribing them; it never shares a run and never
 * takes the solo session.
 *
 * @param <R> what the work returns
 */
public final class InstanceJob<R> extends BatchJob<R> {

    private final Function<Placement, R> work;

    /**
     * @param rows model rows the work runs (for metrics and batch statistics)
     * @param work what to run, given the instance it runs on; called once, on a batcher worker thread
     */
    public InstanceJob(int rows, Function<Placement, R> work) {
        super(rows, new Object());
        this.work = work;
    }

    /** Runs the work on {@code placement} and completes the future with its result. */
    void runOn(Placement placement) {
        future().complete(work.apply(placement));
    }
}
