package dev.igate.predictor.batching;

import java.time.Duration;

/**
 * How one model version's requests are batched, with KServe's names where KServe has them.
 *
 * @param maxBatchSize  most rows in one ONNX Runtime run; 1 turns batching off
 * @param maxLatency    longest a request waits for companions before its batch goes
 * @param queueCapacity requests waiting before new ones are refused with 503
 * @param timeout       longest a request may wait in the queue; then it is answered and never run
 * @param concurrency   runs in flight at once on the session (KServe's containerConcurrency)
 */
public record BatchingSettings(int maxBatchSize, Duration maxLatency, int queueCapacity, Duration timeout, int concurrency) {

    public BatchingSettings {
        if (maxBatchSize < 1) {
            throw new IllegalArgumentException("max-batch-size must be at least 1, was " + maxBatchSize);
        }
        if (maxLatency == null || maxLatency.isNegative() || maxLatency.compareTo(Duration.ofSeconds(10)) > 0) {
            throw new IllegalArgumentException("max-latency must be between 0 and 10s, was " + maxLatency);
        }
        if (queueCapacity < 1) {
            throw new IllegalArgumentException("queue-capacity must be at least 1, was " + queueCapacity);
        }
        if (timeout == null || timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout must be positive, was " + timeout);
        }
        if (concurrency < 1 || concurrency > 64) {
            throw new IllegalArgumentException("concurrency must be between 1 and 64, was " + concurrency);
        }
    }
}
