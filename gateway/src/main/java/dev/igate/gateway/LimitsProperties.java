package dev.igate.gateway;

import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * Per-request limits, under {@code igate.limits} (the body size limit is {@code igate.max-request-size}).
 *
 * @param maxRows        texts, or rows of the first tensor dimension, per request
 * @param maxElements    tensor elements per request, all inputs together
 * @param strictLength   answer 400 for a text longer than the model's max length instead of truncating it
 */
public record LimitsProperties(@DefaultValue("1024") int maxRows, @DefaultValue("4194304") long maxElements,
                               @DefaultValue("false") boolean strictLength) {

    public static final LimitsProperties DEFAULTS = new LimitsProperties(1024, 4_194_304, false);

    public LimitsProperties {
        if (maxRows < 1) {
            throw new IllegalArgumentException(IgateProperties.PREFIX + ".limits.max-rows must be positive, was " + maxRows);
        }
        if (maxElements < 1) {
            throw new IllegalArgumentException(IgateProperties.PREFIX + ".limits.max-elements must be positive, was " + maxElements);
        }
    }
}
