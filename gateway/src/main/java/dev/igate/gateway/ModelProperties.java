package dev.igate.gateway;

import java.time.Duration;

import dev.igate.predictor.SessionSettings;
import dev.igate.predictor.batching.BatchingSettings;

/**
 * Settings of one model; a null field means "inherit" (from {@code igate.defaults}, then from
 * the model's model-settings.json, then from the built-in default).
 *
 * @param defaultVersion    version answering requests that name none
 * @param maxLength         tokens per text; longer texts are truncated
 * @param device            {@code auto}, {@code cpu} or {@code cuda:N}
 * @param intraOpThreads    ONNX Runtime intra-op threads (0 = its choice)
 * @param interOpThreads    ONNX Runtime inter-op threads (0 = its choice)
 * @param optimizationLevel {@code none}, {@code basic}, {@code extended} or {@code all}
 * @param concurrency       inference runs in flight per model version (KServe's containerConcurrency)
 * @param queueCapacity     requests waiting per model version before 503
 * @param maxBatchSize      most rows in one ONNX Runtime run; 1 turns batching off
 * @param maxLatency        longest a request waits for companions before its batch goes
 * @param timeout           longest a request waits in the queue before it is answered 503 and dropped
 * @param allowSpinning     let ONNX Runtime's idle threads spin (faster single runs, but they starve other threads on few cores)
 */
public record ModelProperties(String defaultVersion, Integer maxLength, String device, Integer intraOpThreads,
                              Integer interOpThreads, String optimizationLevel, Integer concurrency,
                              Integer queueCapacity, Integer maxBatchSize, Duration maxLatency, Duration timeout,
                              Boolean allowSpinning) {

    static final ModelProperties BUILT_IN = new ModelProperties(null, null, "auto", 0, 1, "all", 1, 1024, 32,
            Duration.ofMillis(3), Duration.ofSeconds(30), false);

    /** These settings with every non-null field of {@code other} taking precedence. */
    public ModelProperties overriddenBy(ModelProperties other) {
        if (other == null) {
            return this;
        }
        return new ModelProperties(pick(other.defaultVersion, defaultVersion), pick(other.maxLength, maxLength),
                pick(other.device, device), pick(other.intraOpThreads, intraOpThreads),
                pick(other.interOpThreads, interOpThreads), pick(other.optimizationLevel, optimizationLevel),
                pick(other.concurrency, concurrency), pick(other.queueCapacity, queueCapacity),
                pick(other.maxBatchSize, maxBatchSize), pick(other.maxLatency, maxLatency), pick(other.timeout, timeout),
                pick(other.allowSpinning, allowSpinning));
    }

    private static <T> T pick(T preferred, T fallback) {
        return preferred != null ? preferred : fallback;
    }

    /**
     * Checks every value; the message names the offending key.
     *
     * @throws IllegalArgumentException on the first bad value
     */
    void validate(String prefix) {
        try {
            sessionSettings();
            batchingSettings();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(prefix + ": " + e.getMessage(), e);
        }
        if (maxLength != null && (maxLength < 2 || maxLength > 8192)) {
            throw new IllegalArgumentException(prefix + ".max-length must be between 2 and 8192, was " + maxLength);
        }
        if (defaultVersion != null && !defaultVersion.matches("[0-9]{1,9}")) {
            throw new IllegalArgumentException(prefix + ".default-version must be a version number, was " + defaultVersion);
        }
    }

    public BatchingSettings batchingSettings() {
        return new BatchingSettings(maxBatchSize, maxLatency, queueCapacity, timeout, concurrency);
    }

    public SessionSettings sessionSettings() {
        return new SessionSettings(device, intraOpThreads == null ? 0 : intraOpThreads,
                interOpThreads == null ? 0 : interOpThreads, optimizationLevel, Boolean.TRUE.equals(allowSpinning));
    }
}
