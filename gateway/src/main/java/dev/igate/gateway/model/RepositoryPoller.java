package dev.igate.gateway.model;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

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
    private ScheduledExecutorService timer;
    /** What each model's folder held at the previous poll: a change is loaded once it holds still for a poll. */
    private final java.util.Map<String, String> previous = new java.util.HashMap<>();

    public RepositoryPoller(ModelRegistry registry, IgateProperties properties) {
        this.registry = registry;
        this.intervalMillis = properties.repositoryPollInterval().toMillis();
    }

    /**
     * One look at the repository: reloads a loaded model whose files no longer match those it was
     * read from, loads a new one, unloads one whose folder was removed. A change is acted on once
     * two polls in a row see the same files (one that is still being copied in is left for the next
     * poll, so a version is never loaded without the files that were still coming). Nothing before the start-up
     * load has tried every model (it reads the files itself, and a poll then would race it), and
     * nothing for a model an operator unloaded, until an explicit load.
     */
    void poll() {
        if (!registry.startupFinished()) {
            return;
        }
        ModelRepository repository = registry.repository();
        // models kept elsewhere first: a new archive or folder lands in the repository, and is seen below
        registry.fetchStorage();
        try {
            List<String> names = repository.modelNames();
            for (String name : names) {
                if (registry.heldUnloaded(name)) {
                    continue;
                }
                String loadedFrom = registry.loadedFingerprint(name);
                String now = repository.fingerprint(name);
                String before = previous.put(name, now);
                if (loadedFrom != null && loadedFrom.equals(now) || !now.equals(before)) {
                    continue;
                }
                log.info("Repository poll: model {} {}", name, loadedFrom != null ? "changed, reloading" : "appeared, loading");
                try {
                    registry.pollReload(name);
                } catch (RuntimeException | IOException e) {
                    log.warn("Repository poll: model {}: {}", name, e.getMessage());
                }
            }
            previous.keySet().retainAll(names);
            for (String name : registry.modelNames()) {
                if (!names.contains(name)) {
                    log.info("Repository poll: model {} removed, unloading", name);
                    registry.unloadRemoved(name);
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
