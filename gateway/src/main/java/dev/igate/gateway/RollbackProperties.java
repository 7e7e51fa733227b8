package dev.igate.gateway;

import java.time.Duration;

import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * Thresholds of automatic canary rollback, under {@code igate.rollback}. A canary takes part when
 * its route has the metadata {@code auto-rollback: true}.
 *
 * @param window               how far back requests are compared
 * @param minRequests          requests each of stable and canary need in the window before judging
 * @param maxErrorRateIncrease canary 5xx rate minus stable 5xx rate beyond which the canary is rolled back
 * @param maxLatencyRatio      canary p99 over stable p99 beyond which the canary is rolled back
 * @param minExplanationOverlap with explanation drift sampled ({@code igate.explainer.drift-every}): the mean top-k
 *                             word overlap of the two revisions' explanations, over samples whose labels agree,
 *                             below which the canary is rolled back (right for the wrong reasons); 0 = off
 * @param minExplanationSamples label-agreeing explanation samples needed before that judgement
 */
public record RollbackProperties(@DefaultValue("60s") Duration window, @DefaultValue("20") int minRequests,
                                 @DefaultValue("0.05") double maxErrorRateIncrease, @DefaultValue("2.0") double maxLatencyRatio,
                                 @DefaultValue("0") double minExplanationOverlap, @DefaultValue("10") int minExplanationSamples) {

    public static final RollbackProperties DEFAULTS = new RollbackProperties(Duration.ofSeconds(60), 20, 0.05, 2.0, 0, 10);

    public RollbackProperties {
        if (window == null || window.isNegative() || window.isZero()) {
            throw new IllegalArgumentException(IgateProperties.PREFIX + ".rollback.window must be positive");
        }
        if (minRequests < 1) {
            throw new IllegalArgumentException(IgateProperties.PREFIX + ".rollback.min-requests must be positive");
        }
        if (minExplanationOverlap < 0 || minExplanationOverlap > 1 || minExplanationSamples < 1) {
            throw new IllegalArgumentException(IgateProperties.PREFIX
                    + ".rollback: min-explanation-overlap must be between 0 and 1 and min-explanation-samples positive");
        }
        if (maxErrorRateIncrease < 0 || maxLatencyRatio < 1) {
            throw new IllegalArgumentException(IgateProperties.PREFIX
                    + ".rollback: max-error-rate-increase must be >= 0 and max-latency-ratio >= 1");
        }
    }
}
