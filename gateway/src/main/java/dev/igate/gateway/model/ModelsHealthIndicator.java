package dev.igate.gateway.model;

import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.stereotype.Component;

/**
 * Health contributor {@code models}: UP once every model version is loaded and warmed up, with
 * each version's state as details. It is part of the readiness group, so
 * {@code /actuator/health/readiness} stays DOWN until the models can serve.
 */
@Component("models")
public class ModelsHealthIndicator implements HealthIndicator {

    private final ModelRegistry registry;

    public ModelsHealthIndicator(ModelRegistry registry) {
        this.registry = registry;
    }

    @Override
    public Health health() {
        return (registry.serverReady() ? Health.up() : Health.outOfService()).withDetails(registry.describe()).build();
    }
}
