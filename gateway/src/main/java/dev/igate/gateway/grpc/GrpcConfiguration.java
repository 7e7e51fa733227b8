package dev.igate.gateway.grpc;

import dev.igate.gateway.IgateProperties;
import dev.igate.gateway.model.ModelRegistry;
import dev.igate.gateway.serving.ExplainService;
import dev.igate.gateway.serving.InferenceService;
import dev.igate.gateway.serving.ServingMetrics;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** The gRPC endpoint, on unless {@code igate.grpc.enabled} is false. */
@Configuration(proxyBeanMethods = false)
@ConditionalOnProperty(name = "igate.grpc.enabled", matchIfMissing = true)
public class GrpcConfiguration {

    @Bean
    GrpcServer grpcServer(IgateProperties properties, ModelRegistry registry, InferenceService inference,
                          ExplainService explainer, ServingMetrics metrics) {
        return new GrpcServer(properties.grpc(), (int) properties.maxRequestSize().toBytes(), registry,
                new InferenceGrpcHandler(registry, inference, metrics), new ExplainGrpcHandler(explainer, metrics));
    }
}
