package dev.igate.gateway.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

import dev.igate.explainer.GradientUnavailableException;
import dev.igate.explainer.IntegratedGradients;
import dev.igate.explainer.TextExplainer;
import dev.igate.gateway.ModelProperties;
import dev.igate.predictor.BatchDependence;
import dev.igate.predictor.ExecutionProvider;
import dev.igate.predictor.InstanceLayout;
import dev.igate.predictor.ModelConfig;
import dev.igate.predictor.ModelInstances;
import dev.igate.predictor.ModelLoadException;
import dev.igate.predictor.ModelRepository;
import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.SessionSettings;
import dev.igate.predictor.SharedTables;
import dev.igate.predictor.TokenVocabulary;
import dev.igate.predictor.batching.BatchJob;
import dev.igate.predictor.batching.BatchingSettings;
import dev.igate.predictor.batching.DynamicBatcher;
import dev.igate.predictor.batching.OnnxBatchExecutor;
import dev.igate.predictor.batching.Placement;
import dev.igate.predictor.batching.Scheduling;
import dev.igate.predictor.batching.TensorJob;
import dev.igate.predictor.batching.TokenJob;
import dev.igate.protocol.NotImplementedException;
import dev.igate.protocol.Tensor;
import dev.igate.protocol.TensorMetadata;
import dev.igate.transformer.Task;
import dev.igate.transformer.TextEncoder;
import dev.igate.transformer.TokenBatch;

/**
 * A version whose model runs in this process: its ONNX Runtime sessions (the instances of its
 * layout and the solo session), its tokenizer and labels when it is a text classifier, and the
 * dynamic batcher whose worker threads, one per instance, run it. Inference runs on the batcher's
 * threads only, never on the caller's.
 */
public final class LocalModel extends ServedModel {

    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(LocalModel.class);

    private final ModelInstances sessions;
    /** The lookup tables the sessions and the explainer read; closed after the sessions. */
    private final SharedTables tables;
    private final OnnxModel onnx;
    private final String logitsOutput;
    private final DynamicBatcher<BatchJob<?>> batcher;
    private final OnnxBatchExecutor executor;
    private final boolean batchesTensors;
    private final SessionSettings settings;
    private final TokenVocabulary vocabulary;
    private final TritonStatistics statistics;
    /**
     * The model file the sessions were opened from: a link to (or copy of) the repository's file,
     * its version folder's other files beside it, pinned at load, so the explainer is built from the
     * same bytes even after the repository's file was replaced (a storage swap whose reload failed).
     */
    private final Path modelFile;
    /** The pinned file's size and modification time at load: a change in place shows in them. */
    private final String modelFileStamp;
    private TextExplainer explainer;
    private String explainerUnavailable;

    private LocalModel(String name, String version, long generation, Path modelFile, ModelInstances sessions, SharedTables tables,
                       TextEncoder encoder,
                       Task task, Reading reading, BatchingSettings batching, BatchMetrics metrics, SessionSettings settings,
                       DeviceShare device, TokenVocabulary vocabulary) {
        super(name, version, generation, encoder, task, reading);
        this.modelFile = modelFile;
        this.modelFileStamp = stamp(modelFile);
        this.vocabulary = vocabulary;
        this.statistics = metrics.statistics();
        this.settings = settings;
        this.sessions = sessions;
        this.tables = tables;
        this.onnx = sessions.first();
        this.logitsOutput = onnx.outputs().stream().map(TensorMetadata::name)
                .filter(LOGITS::equals).findFirst().orElse(onnx.outputs().get(0).name());
        this.executor = new OnnxBatchExecutor(sessions, logitsOutput, encoder == null ? 0 : encoder.padId());
        this.batchesTensors = executor.batchesTensors();
        this.batcher = new DynamicBatcher<>(name + "-v" + version, batching, executor, metrics, device.gate(), device.runUnits());
    }

    /**
     * Loads a version from the repository. Blocking: reads files, creates the sessions and the tokenizer.
     *
     * @throws ModelLoadException when any file is missing or invalid
     */
    static LocalModel load(ModelRepository repository, String name, String version, ModelProperties props,
                           int maxLength, BatchMetrics metrics, DeviceShares devices, Path pins, Path served) throws ModelLoadException {
        Path dir = repository.versionDir(name, version);
        ModelConfig config = ModelConfig.read(dir.resolve(ModelRepository.CONFIG_FILE));
        SessionSettings base = props.sessionSettings();
        ExecutionProvider provider = OnnxModel.providerFor(base);
        InstanceLayout layout = props.layout(provider, Runtime.getRuntime().availableProcessors());
        long generation = newGeneration();
        Path file = pin(dir.resolve(ModelRepository.MODEL_FILE), pins.resolve(Long.toString(generation)).resolve(name).resolve(version)
                .resolve(ModelRepository.MODEL_FILE), served);
        ModelInstances sessions;
        SharedTables tables = SharedTables.NONE;
        ai.onnx.proto.OnnxMl.ModelProto graph = null;
        ModelLoadException unreadable = null;
        try {
            try (java.io.InputStream in = dev.igate.predictor.onnx.OnnxProtos.open(file)) {
                graph = dev.igate.predictor.onnx.OnnxProtos.parse(in);
            } catch (IOException | RuntimeException e) {
                unreadable = new ModelLoadException("model.onnx could not be read: " + e.getMessage(), e);
            }
            // a CUDA session copies its initializers to the device: a table shared on the host would only be kept twice
            if (graph != null && provider == ExecutionProvider.CPU) {
                tables = SharedTables.of(graph);
            }
            SharedTables shared = tables;
            // ONNX Runtime's own words for a file it rejects come first
            sessions = ModelInstances.open(layout, base, s -> OnnxModel.load(file, s, shared));
            if (unreadable != null) {
                sessions.close();
                throw unreadable;
            }
        } catch (ModelLoadException | RuntimeException e) {
            tables.close();
            unpin(file);
            throw e;
        }
        OnnxModel onnx = sessions.first();
        TextEncoder encoder = null;
        try {
            if (onnx.hasInput("input_ids")) {
                encoder = encoder(dir, config, maxLength);
            }
            Task task = config.labels().isEmpty() ? null : task(config, props);
            TokenVocabulary vocabulary = onnx.hasInput("input_ids") ? TokenVocabulary.of(graph) : TokenVocabulary.UNKNOWN;
            BatchingSettings batching = props.batchingSettings(onnx.provider());
            String batchWide = BatchDependence.batchWideOperator(graph);
            if (batchWide != null && batching.maxBatchSize() > 1) {
                // one request per run: no client's answer may depend on another client's texts
                log.warn("Model {} version {} computes batch-wide statistics ({}): each request runs alone, not batched with others",
                        name, version, batchWide);
                batching = batching.unbatched();
            }
            return new LocalModel(name, version, generation, file, sessions, tables, encoder, task, Reading.of(config, props), batching, metrics, base,
                    devices.share(onnx.provider(), base, layout), vocabulary);
        } catch (IOException | RuntimeException | ModelLoadException e) {
            // a failed load leaves nothing open: the tokenizer, the sessions and the pinned files
            if (encoder != null) {
                encoder.close();
            }
            sessions.close();
            tables.close();
            unpin(file);
            throw e instanceof ModelLoadException failed ? failed
                    : new ModelLoadException("tokenizer.json could not be loaded: " + e.getMessage(), e);
        }
    }

    /**
     * Pins the repository's model file at {@code pinned}, with every other file of its version
     * folder beside it (a model's external data, {@code model.onnx.data} and the like, is read
     * relative to the model file): hard links (the same bytes for as long as they exist, whatever
     * replaces the repository's files), or copies where the two are on different file systems.
     */
    private static Path pin(Path file, Path pinned, Path served) throws ModelLoadException {
        Path from = file.getParent();
        Path to = pinned.getParent();
        try (java.util.stream.Stream<Path> files = Files.walk(from, 8)) {
            for (Path source : files.filter(Files::isRegularFile).toList()) {
                Path target = to.resolve(from.relativize(source).toString());
                Files.createDirectories(target.getParent());
                // the model served in place of the repository's (its int8 copy), under the same name
                link(served != null && source.equals(file) ? served : source, target);
            }
            return pinned;
        } catch (IOException | RuntimeException e) {
            unpin(pinned);
            throw new ModelLoadException("the version's files could not be read: " + e.getMessage(), e);
        }
    }

    private static void link(Path source, Path target) throws IOException {
        try {
            Files.createLink(target, source);
        } catch (IOException | UnsupportedOperationException e) {
            Files.copy(source, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static void unpin(Path pinned) {
        try {
            // the generation's folder: <pins>/<generation>/<name>/<version>/model.onnx
            dev.igate.predictor.storage.ModelStorage.deleteTree(pinned.getParent().getParent().getParent());
        } catch (IOException | RuntimeException e) {
            log.debug("pinned model file {} not removed: {}", pinned, e.toString());
        }
    }

    private static String stamp(Path file) {
        try {
            return Files.size(file) + "@" + Files.getLastModifiedTime(file).toMillis();
        } catch (IOException e) {
            return "unreadable: " + e.getMessage();
        }
    }

    @Override
    public Optional<TritonStatistics> statistics() {
        return Optional.of(statistics);
    }

    /** Any one of the version's sessions, for its inputs, outputs and provider. */
    public OnnxModel onnx() {
        return onnx;
    }

    /** The version's sessions and their layout. */
    public ModelInstances sessions() {
        return sessions;
    }

    @Override
    public String platform() {
        return "onnxruntime_onnx";
    }

    @Override
    public List<TensorMetadata> inputs() {
        return onnx.inputs();
    }

    @Override
    public List<TensorMetadata> outputs() {
        return onnx.outputs();
    }

    @Override
    void describe(Map<String, Object> parameters) {
        BatchingSettings batching = batcher.settings();
        parameters.put("execution_provider", onnx.provider().ortName());
        parameters.put("text_input", acceptsText());
        parameters.put("max_batch_size", batching.maxBatchSize());
        parameters.put("max_batch_tokens", batching.maxBatchTokens());
        parameters.put("instances", sessions.layout().instances());
        parameters.put("intra_op_threads", sessions.layout().threads());
        parameters.put("solo_threads", sessions.layout().soloThreads());
        parameters.put("max_latency_ms", batching.maxLatency().toNanos() / 1e6);
        if (encoder() != null) {
            parameters.put("max_length", encoder().maxLength());
        }
        parameters.putAll(quantization);
    }

    /** How the version was quantized and how it compared with the fp32 model (metadata parameters); empty for fp32. */
    private volatile Map<String, Object> quantization = Map.of();

    /** Records the int8 check of this version (before it serves: metadata shows it). */
    void quantized(Map<String, Object> check) {
        this.quantization = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(check));
    }

    /** The output that answers with logits. */
    String logitsOutput() {
        return logitsOutput;
    }

    /** Queues the texts' rows for the next batch of this version. */
    @Override
    public CompletableFuture<Tensor> logits(TokenBatch batch, Scheduling scheduling) {
        return leased(() -> batcher.submit(tokenJob(batch).schedule(scheduling)));
    }

    /** The batch's rows as a job for the batcher, as they were tokenized (padded to the batch's longest text). */
    private static TokenJob tokenJob(TokenBatch batch) {
        return new TokenJob(batch.rows(), batch.length(), batch.inputIds(), batch.attentionMask(), batch.typeIds());
    }

    /**
     * Checks the tensors against the session, then queues them; requests with the same input
     * signature share a run when the session has a variable batch dimension.
     */
    @Override
    public CompletableFuture<List<Tensor>> run(List<Tensor> inputs, List<String> outputs, Scheduling scheduling) {
        onnx.validate(inputs, outputs);
        vocabulary.check(inputs);
        return leased(() -> batcher.submit(new TensorJob(inputs, outputs, batchesTensors).schedule(scheduling)));
    }

    /**
     * Runs one inference on every session (each instance, and the solo session) so that the first
     * client does not pay for lazy initialisation. Blocking. Text models classify a short sentence;
     * tensor models get zeros, with 1 for every variable dimension.
     */
    void warmUp() {
        List<Placement> placements = new ArrayList<>();
        for (int i = 0; i < sessions.count(); i++) {
            placements.add(new Placement(i));
        }
        if (sessions.solo() != null) {
            placements.add(Placement.SOLO);
        }
        if (acceptsText()) {
            TokenBatch batch = encoder().encode(List.of("Warm-up sentence for the model."));
            for (Placement p : placements) {
                TokenJob job = tokenJob(batch);
                executor.execute(List.of(job), p);
                task().decode(job.future().join(), batch);
            }
            return;
        }
        List<Tensor> zeros = new ArrayList<>();
        for (TensorMetadata in : onnx.inputs()) {
            long[] shape = in.shape().clone();
            for (int i = 0; i < shape.length; i++) {
                shape[i] = Math.max(shape[i], 1);
            }
            int n = Math.toIntExact(Tensor.elementCount(shape));
            zeros.add(new Tensor(in.name(), in.datatype(), shape, dev.igate.protocol.Elements.of(in.datatype()).zeros(n)));
        }
        for (OnnxModel session : sessions.sessions()) {
            session.run(zeros, List.of());
        }
    }

    /**
     * The integrated-gradients explainer of this version, prepared on first use: the embedding
     * surgery and the gradient graph take about a second. Blocking.
     *
     * @throws NotImplementedException when the model is not a text classifier or has no embedding lookup
     */
    @Override
    public synchronized TextExplainer explainer() {
        if (explainer == null && explainerUnavailable == null) {
            explainerUnavailable = prepareExplainer();
        }
        if (explainer == null) {
            throw new NotImplementedException(explainerUnavailable);
        }
        return explainer;
    }

    /** Prepares the explainer; why the version cannot be explained, or null once it is ready. */
    private String prepareExplainer() {
        if (!acceptsText()) {
            return "Model " + name() + " is not a text classifier (no tokenizer.json or id2label)";
        }
        String now = stamp(modelFile);
        if (!now.equals(modelFileStamp)) {
            // written over in place (not replaced): its bytes are no longer those the sessions run
            return "Model " + name() + " version " + version() + " cannot be explained: its model.onnx was"
                    + " written over in place since it loaded (" + modelFileStamp + ", now " + now + "); reload the model";
        }
        try {
            IntegratedGradients ig = IntegratedGradients.prepare(modelFile, logitsOutput, settings, sessions.layout(), tables);
            explainer = new TextExplainer(ig, encoder(), task(), batcher);
            // the graphs built and the probing sessions opened and closed on the way freed 100-300 MB into the C allocator
            NativeMemory.trim();
            return null;
        } catch (IOException | GradientUnavailableException | ModelLoadException e) {
            return "Model " + name() + " cannot be explained: " + e.getMessage();
        } catch (OutOfMemoryError e) {
            // the graphs built on the way are garbage now; the version goes on serving predictions, and a later call tries
            // again (another model's preparation at the same time may have taken the heap)
            log.warn("Model {} version {}: Java ran out of memory while preparing the explainer", name(), version(), e);
            throw new dev.igate.protocol.ServerBusyException("Model " + name() + " cannot be explained now: Java ran out of"
                    + " memory while preparing its explainer (" + e.getMessage() + "; heap limit " + Runtime.getRuntime().maxMemory() / (1 << 20)
                    + " MB); retry, or give the server a larger -Xmx or -XX:MaxDirectMemorySize", java.time.Duration.ofSeconds(5));
        } catch (RuntimeException e) {
            // not tried again on every request: each try costs seconds (and a failure midway used to leak sessions)
            log.warn("Model {} version {}: the explainer could not be prepared", name(), version(), e);
            return "Model " + name() + " cannot be explained: the explainer could not be prepared (" + e.getMessage() + ")";
        }
    }

    @Override
    public int queueDepth() {
        return batcher.queueDepth();
    }

    @Override
    public void checkAdmission(Scheduling scheduling) {
        batcher.checkAdmission(scheduling.level());
    }

    @Override
    public java.time.Duration expectedQueueWait() {
        return batcher.expectedQueueWait();
    }

    @Override
    public BatchingSettings batching() {
        return batcher.settings();
    }

    @Override
    void stopTaking() {
        batcher.close();
    }

    /** Closes the batcher, the explainer, the tokenizer and the sessions, and unpins the model's files. */
    @Override
    public void close() {
        batcher.close();
        synchronized (this) {
            if (explainer != null) {
                explainer.close();
            }
        }
        super.close();
        sessions.close();
        tables.close();
        unpin(modelFile);
    }
}
