package dev.igate.gateway.model;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import dev.igate.demo.DemoRepository;
import dev.igate.gateway.IgateProperties;
import dev.igate.gateway.ModelProperties;
import dev.igate.gateway.serving.BatchMetrics;
import dev.igate.predictor.ModelLoadException;
import dev.igate.predictor.ModelRepository;
import dev.igate.predictor.ModelSettingsFile;
import dev.igate.gateway.remote.RemotePredictor;
import dev.igate.protocol.Datatype;
import dev.igate.protocol.ModelMetadata;
import dev.igate.protocol.TensorMetadata;
import dev.igate.protocol.ModelNotFoundException;
import dev.igate.protocol.ModelNotReadyException;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.SmartLifecycle;
import org.springframework.stereotype.Component;

/**
 * Every model version in the repository and where it stands. Loading happens on a background
 * thread after startup, so the server is live at once and ready when every version has loaded
 * and answered a warm-up inference. A version that fails to load is FAILED with its reason;
 * the others serve.
 */
@Component
public class ModelRegistry implements SmartLifecycle {

    private static final Logger log = LoggerFactory.getLogger(ModelRegistry.class);

    /** One model: its versions' states and the version unversioned requests go to. */
    record Entry(String name, String defaultVersion, Map<String, VersionState> versions) {
    }

    private final IgateProperties properties;
    private final ModelRepository repository;
    private final Map<String, Entry> entries = new ConcurrentHashMap<>();
    private volatile boolean scanned;
    private volatile String scanFailure;
    private volatile boolean running;
    private Thread loader;

    private final MeterRegistry meters;
    private final RemotePredictor remote;

    public ModelRegistry(IgateProperties properties, MeterRegistry meters) {
        this.meters = meters;
        this.remote = properties.predictorUrl() == null ? null
                : new RemotePredictor(properties.predictorUrl(), properties.predictorTimeout());
        this.properties = properties;
        this.repository = new ModelRepository(properties.modelRepository());
    }

    public ModelRepository repository() {
        return repository;
    }

    @Override
    public void start() {
        running = true;
        loader = new Thread(this::loadAll, "model-loader");
        loader.setDaemon(true);
        loader.start();
    }

    @Override
    public void stop() {
        running = false;
        if (loader != null) {
            loader.interrupt();
        }
        for (Entry e : entries.values()) {
            for (VersionState s : e.versions().values()) {
                if (s.model() != null) {
                    s.model().close();
                }
            }
        }
    }

    @Override
    public boolean isRunning() {
        return running;
    }

    /**
     * Stops after the web server's graceful shutdown (which waits for in-flight requests), so
     * models and batchers serve every request that was accepted before they close.
     */
    @Override
    public int getPhase() {
        return SmartLifecycle.DEFAULT_PHASE - 4096;
    }

    private void loadAll() {
        try {
            if (properties.demoModels()) {
                DemoRepository.ensure(repository.root());
            }
            List<String> names = repository.modelNames();
            Map<String, ModelSettingsFile> settings = new LinkedHashMap<>();
            for (String name : names) {
                ModelSettingsFile file;
                try {
                    file = ModelSettingsFile.read(repository.modelDir(name).resolve(ModelRepository.SETTINGS_FILE));
                } catch (ModelLoadException e) {
                    log.warn("Model {}: {}; using defaults", name, e.getMessage());
                    file = ModelSettingsFile.EMPTY;
                }
                settings.put(name, file);
                List<String> versions = repository.versions(name);
                Map<String, VersionState> states = new ConcurrentHashMap<>();
                versions.forEach(v -> states.put(v, VersionState.LOADING));
                String defaultVersion = firstNonNull(properties.forModel(name).defaultVersion(), file.defaultVersion(),
                        versions.get(versions.size() - 1));
                if (!versions.contains(defaultVersion)) {
                    log.warn("Model {}: default version {} is not in the repository, using {}", name, defaultVersion,
                            versions.get(versions.size() - 1));
                    defaultVersion = versions.get(versions.size() - 1);
                }
                entries.put(name, new Entry(name, defaultVersion, states));
            }
            scanned = true;
            log.info("Model repository {}: {}", repository.root(), names.isEmpty() ? "no models" : names);
            for (String name : names) {
                for (String version : repository.versions(name)) {
                    if (!running) {
                        return;
                    }
                    load(name, version, settings.get(name));
                }
            }
        } catch (IOException | ModelLoadException | RuntimeException e) {
            scanFailure = e.getMessage();
            scanned = true;
            log.warn("Model repository {} could not be prepared", repository.root(), e);
        }
    }

    private void load(String name, String version, ModelSettingsFile file) {
        ModelProperties props = properties.forModel(name);
        int maxLength = firstNonNull(props.maxLength(), file.maxLength(), 128);
        long start = System.nanoTime();
        VersionState state;
        try {
            if (remote != null) {
                ServedModel model = ServedModel.loadRemote(repository, name, version, props, maxLength, remote);
                entries.get(name).versions().put(version, VersionState.ready(model));
                log.info("Model {} version {} ready as a transformer for the remote predictor {}", name, version, remote.base());
                return;
            }
            ServedModel model = ServedModel.load(repository, name, version, props, maxLength,
                    new BatchMetrics(meters, name, version));
            BatchMetrics.queueDepth(meters, name, version, model::queueDepth);
            try {
                model.warmUp();
            } catch (RuntimeException e) {
                if (model.acceptsText()) {
                    model.close();
                    throw new ModelLoadException("warm-up inference failed: " + e.getMessage(), e);
                }
                log.warn("Model {} version {}: warm-up with zero tensors failed ({}); serving anyway",
                        name, version, e.getMessage());
            }
            state = VersionState.ready(model);
            log.info("Model {} version {} ready on {} in {} ms{}", name, version, model.onnx().provider().ortName(),
                    (System.nanoTime() - start) / 1_000_000, model.acceptsText() ? " (text classifier)" : " (tensors only)");
        } catch (ModelLoadException | RuntimeException e) {
            state = VersionState.failed(e.getMessage());
            log.warn("Model {} version {} failed to load: {}", name, version, e.getMessage());
        }
        entries.get(name).versions().put(version, state);
    }

    @SafeVarargs
    private static <T> T firstNonNull(T... values) {
        for (T v : values) {
            if (v != null) {
                return v;
            }
        }
        return null;
    }

    /** Names of the models in the repository, sorted. */
    public List<String> modelNames() {
        return entries.keySet().stream().sorted().toList();
    }

    /**
     * The loaded version that serves a request.
     *
     * @param version a version, or null for the model's default
     * @throws ModelNotFoundException when the model or version does not exist
     * @throws ModelNotReadyException when it exists but is loading or failed to load
     */
    public ServedModel resolve(String name, String version) {
        VersionState state = state(name, version);
        if (!state.isReady()) {
            throw new ModelNotReadyException(state.status() == VersionState.Status.LOADING
                    ? "Model " + name + " is loading"
                    : "Model " + name + " failed to load: " + state.reason());
        }
        return state.model();
    }

    /**
     * The state of a model version.
     *
     * @throws ModelNotFoundException when the model or version does not exist
     * @throws ModelNotReadyException while the repository is still being scanned
     */
    public VersionState state(String name, String version) {
        Entry entry = entry(name);
        String v = version == null ? entry.defaultVersion() : version;
        VersionState state = entry.versions().get(v);
        if (state == null) {
            throw ModelNotFoundException.version(name, v);
        }
        return state;
    }

    private Entry entry(String name) {
        if (!ModelRepository.isValidModelName(name)) {
            throw new ModelNotFoundException("Invalid model name");
        }
        Entry entry = entries.get(name);
        if (entry == null) {
            if (!scanned) {
                throw new ModelNotReadyException("The model repository is still being prepared");
            }
            throw ModelNotFoundException.model(name);
        }
        return entry;
    }

    /** Versions of a model, in numeric order. */
    public List<String> versions(String name) {
        return entry(name).versions().keySet().stream().sorted((a, b) -> Long.compare(Long.parseLong(a), Long.parseLong(b))).toList();
    }

    public String defaultVersion(String name) {
        return entry(name).defaultVersion();
    }

    /** Whether the repository was scanned and every version of every model is READY. */
    public boolean allReady() {
        return running && scanned && scanFailure == null && entries.values().stream()
                .allMatch(e -> e.versions().values().stream().allMatch(VersionState::isReady));
    }

    /** Status of every version, for health details: {@code {model: {version: "READY" | "FAILED: why"}}}. */
    public Map<String, Object> describe() {
        Map<String, Object> out = new LinkedHashMap<>();
        if (!scanned) {
            out.put("repository", "preparing");
        } else if (scanFailure != null) {
            out.put("repository", "failed: " + scanFailure);
        }
        for (String name : modelNames()) {
            Map<String, String> versions = new LinkedHashMap<>();
            for (String v : versions(name)) {
                VersionState s = entries.get(name).versions().get(v);
                versions.put(v, s.reason() == null ? s.status().name() : s.status() + ": " + s.reason());
            }
            out.put(name, versions);
        }
        return out;
    }

    /**
     * V2 metadata of a model version.
     *
     * @throws ModelNotFoundException when the model or version does not exist
     * @throws ModelNotReadyException when it is not loaded
     */
    public ModelMetadata metadata(String name, String version) {
        ServedModel model = resolve(name, version);
        Map<String, Object> parameters = new LinkedHashMap<>();
        if (model.remote() != null) {
            parameters.put("version", model.version());
            parameters.put("default_version", defaultVersion(name));
            parameters.put("predictor", model.remote().base().toString());
            parameters.put("max_length", model.encoder().maxLength());
            parameters.put("labels", new ArrayList<>(model.labels().labels()));
            return new ModelMetadata(name, versions(name), "igate_transformer",
                    List.of(new TensorMetadata("text", Datatype.BYTES, new long[] {-1})),
                    List.of(new TensorMetadata("predict", Datatype.BYTES, new long[] {-1})), parameters);
        }
        parameters.put("version", model.version());
        parameters.put("default_version", defaultVersion(name));
        parameters.put("execution_provider", model.onnx().provider().ortName());
        parameters.put("text_input", model.acceptsText());
        parameters.put("max_batch_size", model.batching().maxBatchSize());
        parameters.put("max_latency_ms", model.batching().maxLatency().toNanos() / 1e6);
        if (model.encoder() != null) {
            parameters.put("max_length", model.encoder().maxLength());
        }
        if (model.labels() != null) {
            parameters.put("labels", new ArrayList<>(model.labels().labels()));
        }
        return new ModelMetadata(name, versions(name), "onnxruntime_onnx", model.onnx().inputs(), model.onnx().outputs(),
                parameters);
    }
}
