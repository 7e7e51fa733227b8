package dev.igate.gateway;

import java.time.Duration;

import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * The V2 gRPC endpoint, under {@code igate.grpc}. Its largest message is
 * {@code igate.max-request-size}, as for REST bodies.
 *
 * @param enabled       serve gRPC at all
 * @param port          its own port (KServe and Triton put gRPC beside HTTP); 0 picks a free one
 * @param shutdownGrace how long calls in flight may finish when the server stops; keep it below
 *                      {@code spring.lifecycle.timeout-per-shutdown-phase} (30 s), after which Spring
 *                      goes on to close the models
 */
public record GrpcProperties(@DefaultValue("true") boolean enabled, @DefaultValue("8081") int port,
                             @DefaultValue("25s") Duration shutdownGrace) {

    public static final GrpcProperties DEFAULTS = new GrpcProperties(true, 8081, Duration.ofSeconds(25));

    public GrpcProperties {
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException(IgateProperties.PREFIX + ".grpc.port must be between 0 and 65535, was " + port);
        }
        if (shutdownGrace.isNegative()) {
            throw new IllegalArgumentException(IgateProperties.PREFIX + ".grpc.shutdown-grace must not be negative, was "
                    + shutdownGrace);
        }
    }
}
