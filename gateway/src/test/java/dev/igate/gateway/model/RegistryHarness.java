package dev.igate.gateway.model;

import static org.awaitility.Awaitility.await;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import dev.igate.gateway.IgateProperties;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;

/**
 * A model registry over a repository folder of a test's own, configured through the server's own
 * property binding (as application.yml would set the keys), one instance and no solo session per
 * version; {@link #start} runs its start-up load to the end.
 */
public final class RegistryHarness implements AutoCloseable {

    final Path folder;
    public final SimpleMeterRegistry meters = new SimpleMeterRegistry();
    public IgateProperties properties;
    public ModelRegistry registry;

    public RegistryHarness(Path folder) {
        this.folder = folder;
    }

    public Path repository() {
        return folder.resolve("models");
    }

    public IgateProperties properties(Map<String, String> settings) {
        Map<String, String> all = new HashMap<>(settings);
        all.put("igate.model-repository", repository().toString());
        all.put("igate.storage-cache", folder.resolve("cache").toString());
        all.put("igate.demo-models", "false");
        all.put("igate.defaults.instances", "1");
        all.put("igate.defaults.solo-threads", "0");
        return new Binder(new MapConfigurationPropertySource(all)).bindOrCreate(IgateProperties.PREFIX, Bindable.of(IgateProperties.class));
    }

    /** A registry on these settings, not started. */
    public ModelRegistry create(Map<String, String> settings) {
        properties = properties(settings);
        registry = new ModelRegistry(properties, meters);
        return registry;
    }

    /** A registry on these settings that has finished its start-up load. */
    public ModelRegistry start(Map<String, String> settings) {
        create(settings).start();
        await().atMost(Duration.ofSeconds(60)).until(registry::startupFinished);
        return registry;
    }

    public boolean serves(String model, String version) {
        return registry.knows(model, version) && registry.state(model, version).isReady();
    }

    @Override
    public void close() {
        if (registry != null) {
            registry.stop();
        }
    }
}
