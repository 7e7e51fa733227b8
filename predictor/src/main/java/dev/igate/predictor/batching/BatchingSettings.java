package dev.igate.predictor.batching;

import java.time.Duration;

/**
 * How one model version's requests are batched, with KServe's names where KServe has them.
 *
 * @param maxBatchSize   most rows in one ONNX Runtime run; 1 turns batching off
 * @param maxBatchTokens most padded tokens (rows x longest row) in one run of token rows; 0 for no
 *                       limit. On a CPU a run is fastest per row around 512 tokens (2 cores, demo
 *                       model: 32 rows of 16 tokens, 4 rows of 128); bigger runs only add latency
 * @param maxLatency     longest a request waits for companions before its batch goes
 * @param queueCapacity  requests waiting before new ones are refused with 503
 * @param timeout        longest a request may wait in the queue; then it is answered and never run
 * @param maxQueueWait   longest a new request is expected to wait in the queue (queued work over the
 *                       measured rate of runs): past it, 503 + Retry-After at once, so that accepted
 *                       requests stay within this budget under overload; zero for no such limit
 * @param priorityAging  how long a priority level is worth: a job of level L queues as if it had come
 *                       (L - 1) x this later than it did, so a higher level passes it only when it came
 *                       less than that after it, and no level waits behind newer higher ones forever;
 *                       zero for strict priority (a lower level waits while any higher one is queued)
 */
public record BatchingSettings(int maxBatchSize, int maxBatchTokens, Duration maxLatency, int queueCapacity,
                               Duration timeout, Duration maxQueueWait, Duration priorityAging) {

    /** What priority-aging is unless set: the default max-queue-wait, the wait an admitted request is allowed. */
    public static final Duration DEFAULT_PRIORITY_AGING = Duration.ofSeconds(1);

    public BatchingSettings {
        if (maxBatchSize < 1) {
            throw new IllegalArgumentException("max-batch-size must be at least 1, was " + maxBatchSize);
        }
        if (maxBatchTokens < 0) {
            throw new IllegalArgumentException("max-batch-tokens must be 0 (no limit) or positive, was " + maxBatchTokens);
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
        if (maxQueueWait == null || maxQueueWait.isNegative()) {
            throw new IllegalArgumentException("max-queue-wait must be 0 (no limit) or positive, was " + maxQueueWait);
        }
        if (priorityAging == null || priorityAging.isNegative() || priorityAging.compareTo(Duration.ofHours(1)) > 0) {
            throw new IllegalArgumentException("priority-aging must be between 0 (strict priority) and 1h, was " + priorityAging);
        }
    }

    /** The default priority aging. */
    public BatchingSettings(int maxBatchSize, int maxBatchTokens, Duration maxLatency, int queueCapacity, Duration timeout,
                            Duration maxQueueWait) {
        this(maxBatchSize, maxBatchTokens, maxLatency, queueCapacity, timeout, maxQueueWait, DEFAULT_PRIORITY_AGING);
    }

    /** These settings with batching off (one request per run), the rest kept. */
    public BatchingSettings unbatched() {
        return new BatchingSettings(1, maxBatchTokens, maxLatency, queueCapacity, timeout, maxQueueWait, priorityAging);
    }

    /** No max-queue-wait. */
    public BatchingSettings(int maxBatchSize, int maxBatchTokens, Duration maxLatency, int queueCapacity, Duration timeout) {
        this(maxBatchSize, maxBatchTokens, maxLatency, queueCapacity, timeout, Duration.ZERO);
    }

    /** Rows and latency only: no token limit. */
    public BatchingSettings(int maxBatchSize, Duration maxLatency, int queueCapacity, Duration timeout) {
        this(maxBatchSize, 0, maxLatency, queueCapacity, timeout);
    }
}
