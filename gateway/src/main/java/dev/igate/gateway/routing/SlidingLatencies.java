package dev.igate.gateway.routing;

import java.time.Duration;

/**
 * Requests of one revision over a sliding window, in bounded memory whatever the request rate:
 * the window is cut into slices, each holding a count, an error count and a latency histogram
 * with logarithmic buckets (each 10% wider than the last, so a percentile read from it is within
 * 10%). A slice is cleared when the window has moved past it. Recording is a few array writes.
 */
final class SlidingLatencies {

    static final int SLICES = 12;
    /** Buckets from 1 µs up by 10% each: 1.1^290 µs is beyond any timeout. */
    static final int BUCKETS = 290;
    private static final double LOG_GROWTH = Math.log(1.1);

    /** Requests, errors and a percentile of what the window holds now. */
    record Stats(long requests, long errors, long p99Nanos) {
        double errorRate() {
            return requests == 0 ? 0 : errors / (double) requests;
        }
    }

    private final long sliceNanos;
    private final long[] sliceOf = new long[SLICES];
    private final long[] requests = new long[SLICES];
    private final long[] errors = new long[SLICES];
    private final int[][] buckets = new int[SLICES][BUCKETS];

    SlidingLatencies(Duration window) {
        this.sliceNanos = Math.max(1, window.toNanos() / SLICES);
        java.util.Arrays.fill(sliceOf, Long.MIN_VALUE);
    }

    static int bucket(long nanos) {
        double micros = nanos / 1000.0;
        return micros <= 1 ? 0 : (int) Math.min(BUCKETS - 1, Math.ceil(Math.log(micros) / LOG_GROWTH));
    }

    /** The upper bound of a bucket, the value a percentile read from it reports. */
    static long upperNanos(int bucket) {
        return (long) (Math.exp(bucket * LOG_GROWTH) * 1000);
    }

    synchronized void record(long now, long nanos, boolean error) {
        long slice = Math.floorDiv(now, sliceNanos);
        int i = (int) Math.floorMod(slice, SLICES);
        if (sliceOf[i] != slice) {
            sliceOf[i] = slice;
            requests[i] = 0;
            errors[i] = 0;
            java.util.Arrays.fill(buckets[i], 0);
        }
        requests[i]++;
        if (error) {
            errors[i]++;
        }
        buckets[i][bucket(nanos)]++;
    }

    /** What the slices within the window ending at {@code now} hold. */
    synchronized Stats stats(long now) {
        long current = Math.floorDiv(now, sliceNanos);
        long n = 0;
        long e = 0;
        int[] merged = new int[BUCKETS];
        for (int i = 0; i < SLICES; i++) {
            if (sliceOf[i] > current - SLICES && sliceOf[i] <= current) {
                n += requests[i];
                e += errors[i];
                for (int b = 0; b < BUCKETS; b++) {
                    merged[b] += buckets[i][b];
                }
            }
        }
        long rank = (long) Math.ceil(0.99 * n);
        long seen = 0;
        long p99 = 0;
        for (int b = 0; b < BUCKETS && n > 0; b++) {
            seen += merged[b];
            if (seen >= rank) {
                p99 = upperNanos(b);
                break;
            }
        }
        return new Stats(n, e, p99);
    }

    synchronized void clear() {
        java.util.Arrays.fill(sliceOf, Long.MIN_VALUE);
    }
}
