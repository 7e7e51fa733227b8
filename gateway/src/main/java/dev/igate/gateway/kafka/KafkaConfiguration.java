package dev.igate.gateway.kafka;

import dev.igate.gateway.IgateProperties;
import io.micrometer.core.instrument.MeterRegistry;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** Inference over Kafka, on when {@code igate.kafka.bootstrap-servers} is set. */
@Configuration(proxyBeanMethods = false)
@ConditionalOnProperty(name = "igate.kafka.bootstrap-servers")
public class KafkaConfiguration {

    @Bean
    KafkaInference kafkaInference(IgateProperties properties, dev.igate.gateway.serving.DataPlane plane, MeterRegistry meters,
                                  dev.igate.gateway.tracing.Tracing tracing) {
        return new KafkaInference(properties.kafka(), properties.maxRequestSize().toBytes(), plane, meters, tracing);
    }
}
