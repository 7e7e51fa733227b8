package dev.igate.gateway.tracing;

import java.util.Map;

import org.springframework.boot.EnvironmentPostProcessor;
import org.springframework.boot.SpringApplication;
import org.springframework.core.Ordered;
import org.springframework.core.env.ConfigurableEnvironment;
import org.springframework.core.env.MapPropertySource;

/**
 * Tracing costs nothing until a collector is set: unless
 * {@code management.opentelemetry.tracing.export.otlp.endpoint} is set (or
 * {@code management.tracing.export.enabled} says otherwise), Spring Boot's tracer is left out,
 * so the tracer is the no-op one and no span is made; {@code management.tracing.export.enabled:
 * false} turns tracing off with an endpoint set. Setting the endpoint alone turns it on; setting
 * {@code management.tracing.export.enabled=true} without one propagates trace context and puts
 * trace ids in the logs without exporting. The default's property source is the last one asked.
 */
public class TracingDefaults implements EnvironmentPostProcessor, Ordered {

    static final String ENDPOINT = "management.opentelemetry.tracing.export.otlp.endpoint";
    static final String ENABLED = "management.tracing.export.enabled";
    /**
     * What makes a tracer: with export off Spring Boot still makes one (spans, new trace ids), so
     * tracing off leaves these out and the tracer is Micrometer's no-op one.
     */
    static final String TRACER_CONFIGURATIONS = String.join(",",
            "org.springframework.boot.micrometer.tracing.autoconfigure.MicrometerTracingAutoConfiguration",
            "org.springframework.boot.micrometer.tracing.autoconfigure.prometheus.PrometheusExemplarsAutoConfiguration",
            "org.springframework.boot.micrometer.tracing.opentelemetry.autoconfigure.OpenTelemetryTracingAutoConfiguration",
            "org.springframework.boot.micrometer.tracing.opentelemetry.autoconfigure.otlp.OtlpTracingAutoConfiguration");

    @Override
    public void postProcessEnvironment(ConfigurableEnvironment environment, SpringApplication application) {
        String endpoint = environment.getProperty(ENDPOINT);
        String enabled = environment.getProperty(ENABLED);
        boolean off = enabled == null ? endpoint == null || endpoint.isBlank() : !Boolean.parseBoolean(enabled);
        if (off) {
            environment.getPropertySources().addLast(new MapPropertySource("igate-tracing-defaults",
                    Map.of(ENABLED, "false", "spring.autoconfigure.exclude", TRACER_CONFIGURATIONS)));
        }
    }

    @Override
    public int getOrder() {
        // after the configuration files and the command line are read
        return Ordered.LOWEST_PRECEDENCE;
    }
}
