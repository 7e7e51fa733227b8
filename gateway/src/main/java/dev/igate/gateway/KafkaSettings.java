package dev.igate.gateway;

import java.util.Map;

/**
 * Inference over Kafka ({@code igate.kafka}): on when {@code bootstrap-servers} is set.
 *
 * @param bootstrapServers host:port list of the cluster
 * @param inputTopic       requests are consumed from it
 * @param outputTopic      answers are produced to it
 * @param deadLetterTopic  records that cannot be served go to it, with the error
 * @param groupId          the consumer group
 * @param maxInFlight      records being served at once; past it the consumer pauses its partitions
 * @param properties       client properties passed through to the consumer and producer (security, ...)
 */
public record KafkaSettings(String bootstrapServers, String inputTopic, String outputTopic, String deadLetterTopic,
                            String groupId, Integer maxInFlight, Map<String, String> properties) {

    public static final KafkaSettings DEFAULTS = new KafkaSettings(null, null, null, null, null, null, null);

    public KafkaSettings {
        bootstrapServers = bootstrapServers == null || bootstrapServers.isBlank() ? null : bootstrapServers.trim();
        inputTopic = inputTopic == null ? "igate-input" : inputTopic;
        outputTopic = outputTopic == null ? "igate-output" : outputTopic;
        deadLetterTopic = deadLetterTopic == null ? "igate-dead-letter" : deadLetterTopic;
        groupId = groupId == null ? "igate" : groupId;
        maxInFlight = maxInFlight == null ? 256 : maxInFlight;
        properties = properties == null ? Map.of() : Map.copyOf(properties);
        if (maxInFlight < 1) {
            throw new IllegalArgumentException("igate.kafka.max-in-flight must be at least 1, was " + maxInFlight);
        }
    }
}
