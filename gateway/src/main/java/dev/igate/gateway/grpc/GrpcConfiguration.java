package dev.igate.gateway.grpc;

import dev.igate.gateway.IgateProperties;
import dev.igate.gateway.model.ModelRegistry;
import dev.igate.gateway.serving.InferenceService;
import io.grpc.ServerInterceptors;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** The gRPC endpoint, on unless {@code igate.grpc.enabled} is false. */
@Configuration(proxyBeanMethods = false)
@ConditionalOnProperty(name = "igate.grpc.enabled", matchIfMissing = true)
public class GrpcConfiguration {

    @Bean
    GrpcServer grpcServer(IgateProperties properties, ModelRegistry registry, dev.igate.gateway.serving.DataPlane plane,
                          InferenceService inference, dev.igate.gateway.routing.AdminToken token,
                          dev.igate.gateway.serving.RequestConcurrency concurrency, dev.igate.gateway.tracing.Tracing tracing) {
        return new GrpcServer(properties.grpc(), (int) properties.maxRequestSize().toBytes(), registry,
                InvalidMessages.answeredAsInvalidArgument(ServerInterceptors.intercept(
                        new InferenceGrpcHandler(registry, plane, inference, token, tracing), new SessionIdInterceptor(),
                        concurrency.grpc())),
                InvalidMessages.answeredAsInvalidArgument(ServerInterceptors.intercept(
                        new ExplainGrpcHandler(plane, tracing), new SessionIdInterceptor(),
                        concurrency.grpc())));
    }
}
