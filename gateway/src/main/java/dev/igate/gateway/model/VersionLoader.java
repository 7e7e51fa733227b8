package dev.igate.gateway.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import dev.igate.gateway.IgateProperties;
import dev.igate.gateway.ModelProperties;
import dev.igate.gateway.remote.RemotePredictor;
import dev.igate.predictor.ExecutionProvider;
import dev.igate.predictor.InstanceLayout;
import dev.igate.predictor.ModelLoadException;
import dev.igate.predictor.ModelRepository;
import dev.igate.predictor.ModelSettingsFile;
import dev.igate.predictor.SessionSettings;
import dev.igate.predictor.batching.DeviceGate;
import dev.igate.predictor.storage.ModelStorage;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads one version of a model into what serves it: a {@link LocalModel} warmed up on every
 * session, or a {@link RemoteModel} when {@code igate.predictor-url} names a remote predictor.
 * Owns what the loads share: the device gates (one per device, igate.device-runs) and the folder
 * where loaded versions pin their model files. Blocking.
 */
final class VersionLoader {

    private static final Logger log = LoggerFactory.getLogger(VersionLoader.class);

    private final IgateProperties properties;
    private final ModelRepository repository;
    private final MeterRegistry meters;
    private final RemotePredictor remote;
    /** One gate per device, shared by every version's batcher on it (igate.device-runs). */
    private final Map<String, DeviceGate> gates = new ConcurrentHashMap<>();
    /** Where loaded versions pin their model files ({@code <storage-cache>/loaded/<pid>}): see LocalModel. */
    private final Path pins;

    private final dev.igate.gateway.tracing.Tracing tracing;

    VersionLoader(IgateProperties properties, ModelRepository repository, MeterRegistry meters, dev.igate.gateway.tracing.Tracing tracing) {
        this.tracing = tracing;
        this.properties = properties;
        this.repository = repository;
        this.meters = meters;
        this.remote = properties.predictorUrl() == null ? null
                : new RemotePredictor(properties.predictorUrl(), properties.predictorTimeout());
        this.pins = properties.storageCache().toAbsolutePath().normalize().resolve("loaded")
                .resolve(Long.toString(ProcessHandle.current().pid()));
    }

    /** A version READY with what serves it, or FAILED with the reason (never throws for a bad version). */
    VersionState load(String name, String version, ModelSettingsFile file) {
        ModelProperties props = properties.forModel(name).withModelDefaults(file);
        int maxLength = firstNonNull(props.maxLength(), file.maxLength(), 128);
        long start = System.nanoTime();
        try {
            if (remote != null) {
                ServedModel model = RemoteModel.load(repository, name, version, props, maxLength, remote);
                log.info("Model {} version {} ready as a transformer for the remote predictor {}", name, version, remote.base());
                return VersionState.ready(model);
            }
            LocalModel model = LocalModel.load(repository, name, version, props, maxLength, new BatchMetrics(meters, name, version, tracing),
                    this::share, pins);
            try {
                model.warmUp();
            } catch (RuntimeException e) {
                if (model.acceptsText()) {
                    model.close();
                    throw new ModelLoadException("warm-up inference failed: " + e.getMessage(), e);
                }
                log.warn("Model {} version {}: warm-up with zero tensors failed ({}); serving anyway", name, version, e.getMessage());
            }
            log.info("Model {} version {} ready on {} in {} ms{}: {}; {}", name, version, model.onnx().provider().ortName(),
                    (System.nanoTime() - start) / 1_000_000, model.acceptsText() ? " (text classifier)" : " (tensors only)",
                    model.sessions().layout().describe(), describeBatching(model));
            return VersionState.ready(model);
        } catch (ModelLoadException | RuntimeException e) {
            log.warn("Model {} version {} failed to load: {}", name, version, e.getMessage());
            return VersionState.failed(PublicReasons.of(String.valueOf(e.getMessage()), repository.root()));
        }
    }

    /** Removes the pinned model files of processes that are gone (a crash leaves them). */
    void removeStalePins() {
        Path all = pins.getParent();
        if (!Files.isDirectory(all)) {
            return;
        }
        try (java.util.stream.Stream<Path> folders = Files.list(all)) {
            for (Path folder : folders.toList()) {
                String pid = folder.getFileName().toString();
                boolean alive = pid.matches("[0-9]{1,18}") && ProcessHandle.of(Long.parseLong(pid)).map(ProcessHandle::isAlive).orElse(false);
                if (!alive) {
                    ModelStorage.deleteTree(folder);
                }
            }
        } catch (IOException | RuntimeException e) {
            log.debug("stale pinned model files not removed: {}", e.toString());
        }
    }

    /**
     * The gate of the device a version's sessions run on, shared by every version there, and how
     * much of it one run takes. With {@code device-runs: auto} a CPU's gate holds its cores and a
     * run takes its intra-op threads; a GPU's holds one run. A number N holds N runs of any size.
     */
    private DeviceShare share(ExecutionProvider provider, SessionSettings settings, InstanceLayout layout) {
        String device = provider == ExecutionProvider.CPU ? "cpu" : "cuda:" + settings.cudaDeviceId();
        Integer limit = properties.deviceRunLimit();
        DeviceGate gate = gates.computeIfAbsent(device, d -> {
            int cores = Runtime.getRuntime().availableProcessors();
            DeviceGate g = new DeviceGate(limit != null ? limit : provider == ExecutionProvider.CPU ? cores : 1);
            Gauge.builder("igate.device.runs.in.flight", g, DeviceGate::runsInFlight)
                    .description("ONNX Runtime runs holding the device's gate").tag("device", d).register(meters);
            Gauge.builder("igate.device.runs.peak", g, DeviceGate::peakRunsInFlight)
                    .description("most ONNX Runtime runs that held the device's gate at once since start").tag("device", d)
                    .register(meters);
            log.info("Device {}: {}", d, limit != null ? (limit == 0 ? "no limit on runs at once (device-runs: 0)"
                    : limit + " runs at once (device-runs: " + limit + ")")
                    : provider == ExecutionProvider.CPU ? cores + " threads of runs at once, one per core (device-runs: auto)"
                    : "one run at once (device-runs: auto)");
            return g;
        });
        int units = limit == null && provider == ExecutionProvider.CPU ? Math.min(layout.threads(), gate.capacity()) : 1;
        return new DeviceShare(gate, units);
    }

    private static String describeBatching(LocalModel model) {
        var b = model.batching();
        return "batches of up to " + b.maxBatchSize() + " rows" + (b.maxBatchTokens() > 0 ? " and " + b.maxBatchTokens() + " tokens" : "")
                + ", max-latency " + b.maxLatency().toMillis() + " ms";
    }

    @SafeVarargs
    static <T> T firstNonNull(T... values) {
        for (T v : values) {
            if (v != null) {
                return v;
            }
        }
        return null;
    }
}
