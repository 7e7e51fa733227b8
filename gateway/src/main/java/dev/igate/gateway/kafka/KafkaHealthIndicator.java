package dev.igate.gateway.kafka;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.stereotype.Component;

/**
 * Health contributor {@code kafka}, in the readiness group: when Kafka inference is configured,
 * OUT_OF_SERVICE while records cannot be consumed (the consumer failed and is being made again, or
 * the broker does not answer), with the reason; UP otherwise, and UP when Kafka is not configured.
 */
@Component("kafka")
public class KafkaHealthIndicator implements HealthIndicator {

    private final ObjectProvider<KafkaInference> kafka;

    public KafkaHealthIndicator(ObjectProvider<KafkaInference> kafka) {
        this.kafka = kafka;
    }

    @Override
    public Health health() {
        KafkaInference inference = kafka.getIfAvailable();
        if (inference == null) {
            return Health.up().withDetail("configured", false).build();
        }
        String failure = inference.failure();
        return failure == null ? Health.up().withDetail("consuming", true).build()
                : Health.outOfService().withDetail("consuming", false).withDetail("reason", failure).build();
    }
}
