package dev.igate.predictor.batching;

import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The share of one device (the CPU, a GPU) that ONNX Runtime runs may hold at once, across every
 * model and version on it. On a CPU the capacity is its cores and a run takes as many units as
 * it has intra-op threads, so runs in flight never ask for more threads than there are cores; on
 * a GPU, or with an explicit {@code device-runs}, the capacity counts runs. A run that finds the
 * device idle, with nobody waiting, may take all of it (the solo session).
 *
 * <p>Waiting is first come, first served (a fair semaphore): a version with a steady trickle of
 * requests cannot starve another, nor an explanation's runs a prediction's. Owned by the model
 * registry; batchers acquire and close their permits.
 */
public final class DeviceGate {

    /** No limit: runs of different batchers overlap freely. */
    public static final DeviceGate UNLIMITED = new DeviceGate(0);

    /** Held units of the gate; closing it gives them back. */
    public final class Permit implements AutoCloseable {
        private final int units;
        private final boolean whole;
        private boolean closed;
        private boolean running;

        private Permit(int units, boolean whole) {
            this.units = units;
            this.whole = whole;
        }

        /** Whether this permit holds the whole device (a solo run). */
        public boolean whole() {
            return whole;
        }

        /** Marks the permit's batch as formed and running: its units no longer count as free for splitting work. */
        void running() {
            if (!running && !closed) {
                running = true;
                unitsRunning.addAndGet(units);
            }
        }

        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            if (running) {
                unitsRunning.addAndGet(-units);
            }
            inFlight.decrementAndGet();
            if (permits != null) {
                permits.release(units);
            }
        }
    }

    private final int capacity;
    private final Semaphore permits;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicInteger peak = new AtomicInteger();
    private final AtomicInteger unitsRunning = new AtomicInteger();

    /** @param capacity units of the device (cores, or runs); 0 for no limit */
    public DeviceGate(int capacity) {
        if (capacity < 0) {
            throw new IllegalArgumentException("capacity must not be negative, was " + capacity);
        }
        this.capacity = capacity;
        this.permits = capacity == 0 ? null : new Semaphore(capacity, true);
    }

    /** Units of the device; 0 when unlimited. */
    public int capacity() {
        return capacity;
    }

    /**
     * Waits at most {@code timeout} for {@code units} (at most the capacity), in arrival order.
     *
     * @return the permit, or null when the time ran out
     */
    Permit tryAcquire(int units, long timeout, TimeUnit unit) throws InterruptedException {
        int n = Math.max(1, Math.min(units, capacity));
        if (permits != null && !permits.tryAcquire(n, timeout, unit)) {
            return null;
        }
        return granted(n, false);
    }

    /**
     * Waits for {@code units} (at most the capacity) in arrival order, keeping its place in the
     * queue however long it waits.
     */
    Permit acquire(int units) throws InterruptedException {
        int n = Math.max(1, Math.min(units, capacity));
        if (permits != null) {
            permits.acquire(n);
        }
        return granted(n, false);
    }

    /** The whole device, at once and only if no run holds any of it and nobody waits; else null. */
    Permit tryAcquireIdle() {
        if (permits == null) {
            return inFlight.get() == 0 ? granted(0, true) : null;
        }
        if (permits.hasQueuedThreads() || !permits.tryAcquire(capacity)) {
            return null;
        }
        return granted(capacity, true);
    }

    private Permit granted(int units, boolean whole) {
        peak.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
        return new Permit(units, whole);
    }

    /** Units free now (the capacity when unlimited). */
    public int available() {
        return permits == null ? capacity : permits.availablePermits();
    }

    /**
     * Units not held by a running batch: free ones, and those held by workers still forming theirs.
     * What a batch being formed may count on for runs beside it.
     */
    int unitsNotRunning() {
        return capacity - unitsRunning.get();
    }

    /** Threads waiting for a turn (about: a snapshot for tests and metrics). */
    public int queuedWaiters() {
        return permits == null ? 0 : permits.getQueueLength();
    }

    /** Runs holding a permit now. */
    public int runsInFlight() {
        return inFlight.get();
    }

    /** The most runs that ever held permits at once. */
    public int peakRunsInFlight() {
        return peak.get();
    }
}
