package dev.igate.gateway.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import dev.igate.gateway.IgateProperties;
import dev.igate.predictor.ModelRepository;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.SmartLifecycle;
import org.springframework.stereotype.Component;

/**
 * Version pickup, as Triton's repository polling ({@code igate.repository-poll-interval}, 0 = off):
 * the repository is read every interval; a model whose files changed (a version folder added or
 * removed, a file rewritten) is reloaded (its versions load beside the serving ones and take over
 * once loaded and warmed up; a version that fails to load leaves the previous one serving), a new
 * model is loaded, a removed one unloaded after it drains.
 */
@Component
public class RepositoryPoller implements SmartLifecycle {

    private static final Logger log = LoggerFactory.getLogger(RepositoryPoller.class);

    private final ModelRegistry registry;
    private final long intervalMillis;
    private final Map<String, String> seen = new HashMap<>();
    private ScheduledExecutorService timer;

    public RepositoryPoller(ModelRegistry registry, IgateProperties properties) {
        this.registry = registry;
        this.intervalMillis = properties.repositoryPollInterval().toMillis();
    }

    /** What a model's folder holds: every file under it with its size and modification time. */
    static String fingerprint(Path modelDir) throws IOException {
        Map<String, String> files = new TreeMap<>();
        try (Stream<Path> walk = Files.walk(modelDir, 3)) {
            for (Path p : walk.filter(Files::isRegularFile).toList()) {
                files.put(modelDir.relativize(p).toString(), Files.size(p) + "@" + Files.getLastModifiedTime(p).toMillis());
            }
        }
        return files.toString();
    }

    /** One look at the repository: reloads, loads and unloads what changed since the last. */
    void poll() {
        ModelRepository repository = registry.repository();
        // models kept elsewhere first: a new archive or folder lands in the repository, and is seen below
        registry.fetchStorage();
        try {
            List<String> names = repository.modelNames();
            for (String name : names) {
                String now = fingerprint(repository.modelDir(name));
                String before = seen.put(name, now);
                boolean loaded = registry.modelNames().contains(name);
                if (before == null && loaded) {
                    continue;
                }
                if (!now.equals(before) || !loaded) {
                    log.info("Repository poll: model {} {}", name, loaded ? "changed, reloading" : "appeared, loading");
                    try {
                        registry.reload(name);
                    } catch (RuntimeException | IOException e) {
                        log.warn("Repository poll: model {} not (re)loaded: {}", name, e.getMessage());
                    }
                }
            }
            for (String name : List.copyOf(seen.keySet())) {
                if (!names.contains(name)) {
                    seen.remove(name);
                    if (registry.modelNames().contains(name)) {
                        log.info("Repository poll: model {} removed, unloading", name);
                        registry.unload(name);
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            log.warn("Repository poll failed: {}", e.toString());
        }
    }

    @Override
    public synchronized void start() {
        if (intervalMillis <= 0 || timer != null) {
            return;
        }
        timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "repository-poll");
            t.setDaemon(true);
            return t;
        });
        timer.scheduleWithFixedDelay(this::poll, intervalMillis, intervalMillis, TimeUnit.MILLISECONDS);
        log.info("Polling the model repository every {} ms", intervalMillis);
    }

    @Override
    public synchronized void stop() {
        if (timer != null) {
            timer.shutdownNow();
            timer = null;
        }
    }

    @Override
    public boolean isRunning() {
        return timer != null;
    }
}
