package dev.igate.predictor.batching;

import java.util.concurrent.Semaphore;

/**
 * Limits the ONNX Runtime runs in flight on one device across every batcher that shares the
 * gate: all versions of all models on the CPU, say. Each session has its own intra-op thread
 * pool sized to the cores, so two versions running at once (stable and canary) oversubscribe
 * the cores and both run slower; behind one gate the other version's requests queue meanwhile
 * and go as one bigger batch. Owned by the model registry; batchers only acquire and release.
 */
public final class DeviceGate {

    /** No limit: runs of different batchers overlap freely. */
    public static final DeviceGate UNLIMITED = new DeviceGate(0);

    private final Semaphore permits;

    /** @param runs runs in flight at once on the device; 0 for no limit */
    public DeviceGate(int runs) {
        if (runs < 0) {
            throw new IllegalArgumentException("runs must not be negative, was " + runs);
        }
        this.permits = runs == 0 ? null : new Semaphore(runs, true);
    }

    /** Waits at most {@code timeout} for a turn; true when the caller now holds one. */
    boolean tryAcquire(long timeout, java.util.concurrent.TimeUnit unit) throws InterruptedException {
        return permits == null || permits.tryAcquire(timeout, unit);
    }

    void release() {
        if (permits != null) {
            permits.release();
        }
    }
}
