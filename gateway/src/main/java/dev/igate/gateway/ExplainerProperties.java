package dev.igate.gateway;

import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * Settings of the integrated-gradients explainer, under {@code igate.explainer}.
 *
 * @param concurrency       explanations computed at once (each uses the model's ONNX Runtime threads)
 * @param queueCapacity     explanations waiting before 503 + Retry-After
 * @param defaultSteps      n_steps when a request names none
 * @param maxSteps          largest n_steps accepted
 * @param internalBatchSize rows per ONNX Runtime run; 0 sizes it by sequence length
 * @param timeout           longest an explanation request may take, queue included; then 503 and its work stops
 * @param maxWorkTokens     most model tokens one request may cost (texts x path rows x tokens; the black-box method
 *                          costs 2 x tokens rows per path point); past it, 400 naming the figure
 * @param cacheMaxBytes     bytes of answers the explanation cache keeps (an answer asked again, same loaded copy,
 *                          texts and parameters, comes from it); 0, the default, turns it off
 * @param driftEvery        explain every N-th answered prediction of a model with a stable and a canary revision on both
 *                          of them, and compare (top-k word overlap, rank correlation: igate_explanation_drift_*); 0, the
 *                          default, turns it off. One comparison at a time; a sample that finds one running is skipped
 * @param driftTopK         words compared for the overlap
 */
public record ExplainerProperties(@DefaultValue("1") int concurrency, @DefaultValue("16") int queueCapacity,
                                  @DefaultValue("50") int defaultSteps, @DefaultValue("500") int maxSteps,
                                  @DefaultValue("0") int internalBatchSize,
                                  @DefaultValue("60s") java.time.Duration timeout,
                                  @DefaultValue("16777216") long maxWorkTokens,
                                  @DefaultValue("0B") org.springframework.util.unit.DataSize cacheMaxBytes,
                                  @DefaultValue("0") int driftEvery, @DefaultValue("5") int driftTopK) {

    public static final ExplainerProperties DEFAULTS = new ExplainerProperties(1, 16, 50, 500, 0,
            java.time.Duration.ofSeconds(60), 16_777_216L, org.springframework.util.unit.DataSize.ofBytes(0), 0, 5);

    public ExplainerProperties {
        String p = IgateProperties.PREFIX + ".explainer.";
        if (concurrency < 1 || concurrency > 64) {
            throw new IllegalArgumentException(p + "concurrency must be between 1 and 64, was " + concurrency);
        }
        if (queueCapacity < 1) {
            throw new IllegalArgumentException(p + "queue-capacity must be positive, was " + queueCapacity);
        }
        if (maxSteps < 2 || maxSteps > 10_000) {
            throw new IllegalArgumentException(p + "max-steps must be between 2 and 10000, was " + maxSteps);
        }
        if (defaultSteps < 2 || defaultSteps > maxSteps) {
            throw new IllegalArgumentException(p + "default-steps must be between 2 and max-steps, was " + defaultSteps);
        }
        if (timeout == null || timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException(p + "timeout must be positive, was " + timeout);
        }
        if (maxWorkTokens < 1) {
            throw new IllegalArgumentException(p + "max-work-tokens must be positive, was " + maxWorkTokens);
        }
        if (driftEvery < 0 || driftTopK < 1) {
            throw new IllegalArgumentException(p + "drift-every must be 0 (off) or positive and drift-top-k positive, were " + driftEvery
                    + " and " + driftTopK);
        }
        if (cacheMaxBytes == null || cacheMaxBytes.isNegative()) {
            throw new IllegalArgumentException(p + "cache-max-bytes must be 0 (off) or positive, was " + cacheMaxBytes);
        }
        if (internalBatchSize < 0) {
            throw new IllegalArgumentException(p + "internal-batch-size must be 0 (automatic) or positive, was " + internalBatchSize);
        }
    }
}
