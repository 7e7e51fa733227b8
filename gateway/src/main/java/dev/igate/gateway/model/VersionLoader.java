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
    /** int8 copies ({@code <storage-cache>/int8}) and their checks. */
    private final Int8Load int8;
    /** Calibration texts an operator's load call gave, by model, for the load it asked for. */
    private final Map<String, java.util.List<String>> calibrationGiven = new ConcurrentHashMap<>();

    VersionLoader(IgateProperties properties, ModelRepository repository, MeterRegistry meters, dev.igate.gateway.tracing.Tracing tracing) {
        this.tracing = tracing;
        this.properties = properties;
        this.repository = repository;
        this.meters = meters;
        this.remote = properties.predictorUrl() == null ? null
                : new RemotePredictor(properties.predictorUrl(), properties.predictorTimeout());
        this.pins = properties.storageCache().toAbsolutePath().normalize().resolve("loaded")
                .resolve(Long.toString(ProcessHandle.current().pid()));
        this.int8 = new Int8Load(properties.storageCache().toAbsolutePath().normalize().resolve("int8"));
    }

    /** Runs {@code load} with these calibration texts for the model's int8 checks (an operator's load call gave them). */
    <T> T withCalibration(String name, java.util.List<String> texts, java.util.concurrent.Callable<T> load) throws Exception {
        calibrationGiven.put(name, texts);
        try {
            return load.call();
        } finally {
            calibrationGiven.remove(name);
        }
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
            Path source = repository.versionDir(name, version).resolve(ModelRepository.MODEL_FILE);
            boolean quantize = props.int8();
            java.util.List<String> calibration = quantize ? calibration(name, version) : java.util.List.of();
            Path served = quantize ? int8.quantized(source, !Boolean.FALSE.equals(props.quantizePerChannel()), props.quantizePerToken()) : null;
            LocalModel model = LocalModel.load(repository, name, version, props, maxLength, new BatchMetrics(meters, name, version, tracing),
                    this::share, pins, served);
            try {
                model.warmUp();
            } catch (RuntimeException e) {
                if (model.acceptsText()) {
                    model.close();
                    throw new ModelLoadException("warm-up inference failed: " + e.getMessage(), e);
                }
                log.warn("Model {} version {}: warm-up with zero tensors failed ({}); serving anyway", name, version, e.getMessage());
            }
            if (quantize) {
                check(model, source, calibration, props);
            }
            log.info("Model {} version {} ready on {} in {} ms{}: {}; {}", name, version, model.onnx().provider().ortName(),
                    (System.nanoTime() - start) / 1_000_000, model.acceptsText() ? " (text classifier)" : " (tensors only)",
                    model.sessions().layout().describe(), describeBatching(model));
            return VersionState.ready(model);
        } catch (ModelLoadException | RuntimeException e) {
            log.warn("Model {} version {} failed to load: {}", name, version, e.getMessage());
            return VersionState.failed(PublicReasons.of(String.valueOf(e.getMessage()), repository.root()));
        } catch (OutOfMemoryError e) {
            // the version's own arrays (its bytes, graph rewrites, quantization) are garbage once this returns: the
            // loader goes on with the next version instead of dying and leaving this one loading for ever
            String reason = "Java ran out of memory while loading it" + (props.int8() ? " and quantizing it" : "") + " ("
                    + e.getMessage() + "; heap limit " + Runtime.getRuntime().maxMemory() / (1 << 20)
                    + " MB): give the server a larger -Xmx or -XX:MaxDirectMemorySize";
            log.warn("Model {} version {} failed to load: {}", name, version, reason);
            return VersionState.failed(reason);
        }
    }

    /**
     * The texts an int8 version is checked on: an operator's load call's, else the version's or the
     * model's calibration.txt.
     *
     * @throws ModelLoadException when there are none
     */
    private java.util.List<String> calibration(String name, String version) throws ModelLoadException {
        java.util.List<String> given = calibrationGiven.get(name);
        java.util.List<String> texts = given != null ? given : Int8Load.calibrationTexts(repository.versionDir(name, version));
        if (texts.isEmpty()) {
            throw new ModelLoadException("quantize: int8 checks the int8 model against the fp32 one before it serves, on calibration"
                    + " texts: none found (a " + Int8Load.CALIBRATION_FILE + " in the model's or the version's folder, one text per line,"
                    + " or the load call's calibration parameter)");
        }
        return texts;
    }

    /**
     * Compares the int8 version with its fp32 model on the calibration texts (a session of the fp32
     * model, closed after): logged and shown in metadata; a label agreement below
     * quantize-min-agreement refuses the load (the version closed).
     */
    private void check(LocalModel model, Path source, java.util.List<String> texts, ModelProperties props) throws ModelLoadException {
        if (!model.acceptsText()) {
            model.close();
            throw new ModelLoadException("quantize: int8 serves text models (it is checked on calibration texts); this one takes tensors");
        }
        Int8Load.Check check;
        long start = System.nanoTime();
        int cores = Runtime.getRuntime().availableProcessors();
        try (dev.igate.predictor.OnnxModel fp32 = dev.igate.predictor.OnnxModel.load(source, props.sessionSettings().withThreads(cores, false))) {
            check = Int8Load.compare(fp32, model.onnx(), model.logitsOutput(), model.encoder(), texts,
                    !Boolean.FALSE.equals(props.quantizePerChannel()), props.quantizePerToken());
        } catch (ModelLoadException | RuntimeException e) {
            model.close();
            throw e instanceof ModelLoadException m ? m : new ModelLoadException("quantize: int8 check failed: " + e.getMessage(), e);
        }
        double min = props.quantizeMinAgreement() == null ? 0.99 : props.quantizeMinAgreement();
        String described = String.format(java.util.Locale.ROOT, "label agreement %.4f and max logit difference %.4f with the fp32 model"
                + " over %d calibration texts (%d ms)", check.agreement(), check.maxLogitDifference(), check.texts(),
                (System.nanoTime() - start) / 1_000_000);
        if (check.agreement() < min) {
            model.close();
            throw new ModelLoadException("quantize: int8 refused: " + described + ", below quantize-min-agreement " + min);
        }
        log.info("Model {} version {} int8: {}", model.name(), model.version(), described);
        model.quantized(check.parameters());
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
