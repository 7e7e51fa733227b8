package dev.igate.gateway.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import dev.igate.explainer.GradientUnavailableException;
import dev.igate.explainer.IntegratedGradients;
import dev.igate.explainer.TextExplainer;
import dev.igate.gateway.ModelProperties;
import dev.igate.gateway.remote.RemotePredictor;
import dev.igate.predictor.ExecutionProvider;
import dev.igate.predictor.InstanceLayout;
import dev.igate.predictor.ModelConfig;
import dev.igate.predictor.ModelInstances;
import dev.igate.predictor.ModelLoadException;
import dev.igate.predictor.ModelRepository;
import dev.igate.predictor.BatchDependence;
import dev.igate.predictor.OnnxModel;
import dev.igate.protocol.Datatype;
import dev.igate.predictor.SessionSettings;
import dev.igate.predictor.TokenVocabulary;
import dev.igate.predictor.batching.BatchJob;
import dev.igate.predictor.batching.BatchListener;
import dev.igate.predictor.batching.BatchingSettings;
import dev.igate.predictor.batching.DeviceGate;
import dev.igate.predictor.batching.DynamicBatcher;
import dev.igate.predictor.batching.OnnxBatchExecutor;
import dev.igate.predictor.batching.Placement;
import dev.igate.predictor.batching.Scheduling;
import dev.igate.predictor.batching.TensorJob;
import dev.igate.predictor.batching.TokenJob;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.NotImplementedException;
import dev.igate.protocol.ServerBusyException;
import dev.igate.protocol.Tensor;
import dev.igate.protocol.TensorMetadata;
import dev.igate.transformer.Task;
import dev.igate.transformer.TextEncoder;
import dev.igate.transformer.TokenBatch;

/**
 * One loaded model version: its ONNX Runtime sessions (the instances of its layout and the solo
 * session), its tokenizer and labels when it is a text classifier, and the dynamic batcher whose
 * worker threads, one per instance, run it. Inference for this version runs on the batcher's
 * threads only, never on the caller's.
 */
public final class ServedModel implements AutoCloseable {

    public static final String LOGITS = "logits";
    /** Every load of a version in this process gets the next number: what a reload of the same version number changes. */
    private static final java.util.concurrent.atomic.AtomicLong GENERATIONS = new java.util.concurrent.atomic.AtomicLong();
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(ServedModel.class);

    private final String name;
    private final String version;
    private final ModelInstances sessions;
    private final OnnxModel onnx;
    private final TextEncoder encoder;
    private final Task task;
    private final String logitsOutput;
    private final DynamicBatcher<BatchJob<?>> batcher;
    private final OnnxBatchExecutor executor;
    private final boolean batchesTensors;
    private final RemotePredictor remote;
    private final Path directory;
    private final SessionSettings settings;
    private final TokenVocabulary vocabulary;
    private final InFlight inFlight;
    private final dev.igate.gateway.model.TritonStatistics statistics;
    private final long generation;
    /**
     * The model file the sessions were opened from: a link to (or copy of) the repository's file,
     * its version folder's other files beside it, pinned at load, so the explainer is built from the same bytes even after the repository's file
     * was replaced (a storage swap whose reload failed); null for a remote predictor.
     */
    private final Path modelFile;
    /** The pinned file's size and modification time at load: a change in place shows in them. */
    private final String modelFileStamp;
    private TextExplainer explainer;
    private String explainerUnavailable;

    private ServedModel(String name, String version, long generation, Path modelFile, ModelInstances sessions, TextEncoder encoder,
                        Task task, BatchingSettings batching, BatchListener listener, Path directory, SessionSettings settings,
                        RemotePredictor remote, DeviceShare device, TokenVocabulary vocabulary) {
        this.generation = generation;
        this.modelFile = modelFile;
        this.modelFileStamp = modelFile == null ? null : stamp(modelFile);
        this.vocabulary = vocabulary;
        this.statistics = listener instanceof dev.igate.gateway.model.BatchMetrics metrics ? metrics.statistics() : null;
        this.inFlight = new InFlight("Model " + name + " version " + version);
        this.remote = remote;
        this.directory = directory;
        this.settings = settings;
        this.name = name;
        this.version = version;
        this.sessions = sessions;
        this.onnx = sessions == null ? null : sessions.first();
        this.encoder = encoder;
        this.task = task;
        if (remote != null) {
            this.logitsOutput = LOGITS;
            this.executor = null;
            this.batchesTensors = false;
            this.batcher = null;
        } else {
            this.logitsOutput = onnx.outputs().stream().map(TensorMetadata::name)
                    .filter(LOGITS::equals).findFirst().orElse(onnx.outputs().get(0).name());
            this.executor = new OnnxBatchExecutor(sessions, logitsOutput, encoder == null ? 0 : encoder.padId());
            this.batchesTensors = executor.batchesTensors();
            this.batcher = new DynamicBatcher<>(name + "-v" + version, batching, executor, listener, device.gate(),
                    device.runUnits());
        }
    }

    /**
     * Loads a version from the repository. Blocking: reads files, creates the session and the tokenizer.
     *
     * @throws ModelLoadException when any file is missing or invalid
     */
    static ServedModel load(ModelRepository repository, String name, String version, ModelProperties props,
                            int maxLength, dev.igate.gateway.model.BatchMetrics listener, DeviceShares devices, Path pins)
            throws ModelLoadException {
        Path dir = repository.versionDir(name, version);
        ModelConfig config = ModelConfig.read(dir.resolve(ModelRepository.CONFIG_FILE));
        SessionSettings base = props.sessionSettings();
        ExecutionProvider provider = OnnxModel.providerFor(base);
        InstanceLayout layout = props.layout(provider, Runtime.getRuntime().availableProcessors());
        long generation = GENERATIONS.incrementAndGet();
        Path file = pin(dir.resolve(ModelRepository.MODEL_FILE), pins.resolve(Long.toString(generation)).resolve(name).resolve(version)
                .resolve(ModelRepository.MODEL_FILE));
        ModelInstances sessions;
        try {
            sessions = ModelInstances.open(layout, base, s -> OnnxModel.load(file, s));
        } catch (ModelLoadException | RuntimeException e) {
            unpin(file);
            throw e;
        }
        OnnxModel onnx = sessions.first();
        TextEncoder encoder = null;
        try {
            Path tokenizer = dir.resolve(ModelRepository.TOKENIZER_FILE);
            if (Files.isRegularFile(tokenizer) && onnx.hasInput("input_ids")) {
                int limit = config.maxPositionEmbeddings() > 0 ? Math.min(maxLength, config.maxPositionEmbeddings()) : maxLength;
                encoder = TextEncoder.load(tokenizer, limit);
            }
            Task task = config.labels().isEmpty() ? null : task(config);
            ai.onnx.proto.OnnxMl.ModelProto graph;
            try (java.io.InputStream in = Files.newInputStream(file)) {
                graph = dev.igate.predictor.onnx.OnnxProtos.parse(in);
            }
            TokenVocabulary vocabulary = onnx.hasInput("input_ids") ? TokenVocabulary.of(graph) : TokenVocabulary.UNKNOWN;
            BatchingSettings batching = props.batchingSettings(onnx.provider());
            String batchWide = BatchDependence.batchWideOperator(graph);
            if (batchWide != null && batching.maxBatchSize() > 1) {
                // one request per run: no client's answer may depend on another client's texts
                log.warn("Model {} version {} computes batch-wide statistics ({}): each request runs alone, not batched with others",
                        name, version, batchWide);
                batching = batching.unbatched();
            }
            return new ServedModel(name, version, generation, file, sessions, encoder, task, batching, listener,
                    dir, base, null, devices.share(onnx.provider(), base, layout), vocabulary);
        } catch (IOException | RuntimeException e) {
            sessions.close();
            unpin(file);
            throw new ModelLoadException("tokenizer.json could not be loaded: " + e.getMessage(), e);
        }
    }

    /**
     * Pins the repository's model file at {@code pinned}, with every other file of its version
     * folder beside it (a model's external data, {@code model.onnx.data} and the like, is read
     * relative to the model file): hard links (the same bytes for as long as they exist, whatever
     * replaces the repository's files), or copies where the two are on different file systems.
     */
    private static Path pin(Path file, Path pinned) throws ModelLoadException {
        Path from = file.getParent();
        Path to = pinned.getParent();
        try (java.util.stream.Stream<Path> files = Files.walk(from, 8)) {
            for (Path source : files.filter(Files::isRegularFile).toList()) {
                Path target = to.resolve(from.relativize(source).toString());
                Files.createDirectories(target.getParent());
                try {
                    Files.createLink(target, source);
                } catch (IOException | UnsupportedOperationException e) {
                    Files.copy(source, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                }
            }
            return pinned;
        } catch (IOException | RuntimeException e) {
            unpin(pinned);
            throw new ModelLoadException("the version's files could not be read: " + e.getMessage(), e);
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

    public String name() {
        return name;
    }

    public String version() {
        return version;
    }

    /**
     * This load of the version: a number no other load in this process had, so a reload of the same
     * version number (new files under "1") is told apart from the copy it replaced.
     */
    public long generation() {
        return generation;
    }

    /** Triton's statistics of this copy of the version, or null when its model runs on a remote predictor. */
    public dev.igate.gateway.model.TritonStatistics statistics() {
        return statistics;
    }

    /** Any one of the version's sessions, for its inputs, outputs and provider. */
    public OnnxModel onnx() {
        return onnx;
    }

    /** The version's sessions and their layout; null when the model runs on a remote predictor. */
    public ModelInstances sessions() {
        return sessions;
    }

    /** Whether texts can be sent: the model has a tokenizer and labels. */
    public boolean acceptsText() {
        return encoder != null && task != null;
    }

    public TextEncoder encoder() {
        return encoder;
    }

    /** What the model's outputs mean (its labels, how they are decoded), or null for a model that takes no text. */
    public Task task() {
        return task;
    }

    public String logitsOutput() {
        return logitsOutput;
    }

    /** Work on this version in flight, held until the work ends (see {@link #lease()}). */
    public interface Lease extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Takes a share of this version for work that touches it (its tokenizer, explainer or
     * sessions): the version is closed only when every lease has ended. Close it when the work ends.
     *
     * @throws dev.igate.protocol.ModelNotReadyException when the version was unloaded
     */
    public Lease lease() {
        return inFlight.acquire()::close;
    }

    /** Work in flight on this version: tokenizations, queued and running jobs, explanations. */
    public int inFlight() {
        return inFlight.count();
    }

    /** Holds a lease until the job's future completes. */
    private <R> CompletableFuture<R> leased(java.util.function.Supplier<CompletableFuture<R>> submit) {
        Lease lease = lease();
        CompletableFuture<R> future;
        try {
            future = submit.get();
        } catch (RuntimeException e) {
            lease.close();
            throw e;
        }
        future.whenComplete((r, e) -> lease.close());
        return future;
    }

    /**
     * Runs tokenized texts: queues their rows for the next batch of this version.
     *
     * @return the model's output for the texts, {@code [texts, ...]} as the model shapes it (a
     *         per-token output cut to the batch's length)
     * @throws ServerBusyException when the version's queue is full
     */
    public CompletableFuture<Tensor> logits(TokenBatch batch) {
        return logits(batch, Scheduling.DEFAULT);
    }

    /** As {@link #logits(TokenBatch)}, queued at the request's priority and with its queue timeout. */
    public CompletableFuture<Tensor> logits(TokenBatch batch, Scheduling scheduling) {
        if (remote != null) {
            long[] shape = {batch.rows(), batch.length()};
            // only the token inputs the remote model has, in its datatypes
            return remote.inputs(name, version).thenCompose(takes -> {
                List<Tensor> feeds = new java.util.ArrayList<>(3);
                Map<String, long[]> rows = Map.of("input_ids", batch.inputIds(), "attention_mask", batch.attentionMask(),
                        "token_type_ids", batch.typeIds());
                for (String input : List.of("input_ids", "attention_mask", "token_type_ids")) {
                    if (takes.containsKey(input) || input.equals("input_ids")) {
                        feeds.add(takes.get(input) == Datatype.INT32 ? OnnxModel.int32(input, shape, rows.get(input))
                                : Tensor.ofLongs(input, shape, rows.get(input)));
                    }
                }
                return remote.infer(name, version, feeds, List.of(LOGITS));
            }).thenApply(out -> out.get(0));
        }
        return leased(() -> batcher.submit(tokenJob(batch).schedule(scheduling)));
    }

    /** The batch's rows as a job for the batcher, as they were tokenized (padded to the batch's longest text). */
    private static TokenJob tokenJob(TokenBatch batch) {
        return new TokenJob(batch.rows(), batch.length(), batch.inputIds(), batch.attentionMask(), batch.typeIds());
    }

    /**
     * Runs raw tensors: checks them against the session, then queues them; requests with the
     * same input signature share a run when the session has a variable batch dimension.
     *
     * @throws InvalidInputException when names, datatypes or shapes disagree with the session
     * @throws ServerBusyException   when the version's queue is full
     */
    public CompletableFuture<List<Tensor>> run(List<Tensor> inputs, List<String> outputs) {
        return run(inputs, outputs, Scheduling.DEFAULT);
    }

    /** As {@link #run(List, List)}, queued at the request's priority and with its queue timeout. */
    public CompletableFuture<List<Tensor>> run(List<Tensor> inputs, List<String> outputs, Scheduling scheduling) {
        if (remote != null) {
            return remote.infer(name, version, inputs, outputs);
        }
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
            TokenBatch batch = encoder.encode(List.of("Warm-up sentence for the model."));
            for (Placement p : placements) {
                TokenJob job = tokenJob(batch);
                executor.execute(List.of(job), p);
                task.decode(job.future().join(), batch);
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
            zeros.add(new Tensor(in.name(), in.datatype(), shape, zeroData(in, n)));
        }
        for (OnnxModel session : sessions.sessions()) {
            session.run(zeros, List.of());
        }
    }

    /**
     * The task config.json's problem_type and id2label describe.
     *
     * @throws ModelLoadException for an unknown problem_type or labels that do not fit it
     */
    static Task task(ModelConfig config) throws ModelLoadException {
        try {
            return Task.of(config.problemType(), config.labels());
        } catch (IllegalArgumentException e) {
            throw new ModelLoadException("config.json: " + e.getMessage(), e);
        }
    }

    /**
     * Loads a version whose model runs in another process: only tokenizer.json and config.json
     * are read here, and token tensors go to the remote predictor. Blocking.
     *
     * @throws ModelLoadException when the tokenizer or labels are missing or invalid
     */
    static ServedModel loadRemote(ModelRepository repository, String name, String version, ModelProperties props,
                                  int maxLength, RemotePredictor remote) throws ModelLoadException {
        Path dir = repository.versionDir(name, version);
        ModelConfig config = ModelConfig.read(dir.resolve(ModelRepository.CONFIG_FILE));
        Path tokenizer = dir.resolve(ModelRepository.TOKENIZER_FILE);
        if (!Files.isRegularFile(tokenizer) || config.labels().isEmpty()) {
            throw new ModelLoadException("a transformer needs tokenizer.json and config.json with id2label");
        }
        try {
            int limit = config.maxPositionEmbeddings() > 0 ? Math.min(maxLength, config.maxPositionEmbeddings()) : maxLength;
            return new ServedModel(name, version, GENERATIONS.incrementAndGet(), null, null, TextEncoder.load(tokenizer, limit), task(config),
                    props.batchingSettings(ExecutionProvider.CPU), BatchListener.NONE, dir, props.sessionSettings(), remote,
                    new DeviceShare(DeviceGate.UNLIMITED, 1), TokenVocabulary.UNKNOWN);
        } catch (IOException | RuntimeException e) {
            throw new ModelLoadException("tokenizer.json could not be loaded: " + e.getMessage(), e);
        }
    }

    /** The remote predictor this version's model runs on, or null when it runs here. */
    public RemotePredictor remote() {
        return remote;
    }

    private static Object zeroData(TensorMetadata in, int n) {
        Class<?> type = Tensor.javaType(in.datatype());
        if (type == byte[][].class) {
            byte[][] empty = new byte[n][];
            java.util.Arrays.fill(empty, new byte[0]);
            return empty;
        }
        return java.lang.reflect.Array.newInstance(type.getComponentType(), n);
    }

    /**
     * The integrated-gradients explainer of this version, prepared on first use: the embedding
     * surgery and the gradient graph take about a second. Blocking.
     *
     * @throws NotImplementedException when the model is not a text classifier or has no embedding lookup
     */
    public synchronized TextExplainer explainer() {
        if (explainer == null && explainerUnavailable == null) {
            if (remote != null) {
                explainerUnavailable = "Model " + name + " runs on the remote predictor " + remote.base()
                        + "; explanations are served where the model is (the explainer or predictor service)";
            } else if (!acceptsText()) {
                explainerUnavailable = "Model " + name + " is not a text classifier (no tokenizer.json or id2label)";
            } else if (task instanceof dev.igate.transformer.TokenClassification) {
                explainerUnavailable = "Model " + name + " classifies tokens: explaining an entity is not served yet"
                        + " (integrated gradients here explain a whole text's label)";
            } else {
                String now = stamp(modelFile);
                if (!now.equals(modelFileStamp)) {
                    // written over in place (not replaced): its bytes are no longer those the sessions run
                    explainerUnavailable = "Model " + name + " version " + version + " cannot be explained: its model.onnx was"
                            + " written over in place since it loaded (" + modelFileStamp + ", now " + now + "); reload the model";
                } else {
                    try {
                        IntegratedGradients ig = IntegratedGradients.prepare(modelFile, logitsOutput, settings, sessions.layout());
                        explainer = new TextExplainer(ig, encoder, task, batcher);
                    } catch (IOException | GradientUnavailableException | ModelLoadException e) {
                        explainerUnavailable = "Model " + name + " cannot be explained: " + e.getMessage();
                    } catch (RuntimeException e) {
                        // not tried again on every request: each try costs seconds (and a failure midway used to leak sessions)
                        log.warn("Model {} version {}: the explainer could not be prepared", name, version, e);
                        explainerUnavailable = "Model " + name + " cannot be explained: the explainer could not be prepared ("
                                + e.getMessage() + ")";
                    }
                }
            }
        }
        if (explainer == null) {
            throw new NotImplementedException(explainerUnavailable);
        }
        return explainer;
    }

    /** Requests waiting for a batch. */
    public int queueDepth() {
        return batcher == null ? 0 : batcher.queueDepth();
    }

    /**
     * Refuses at once, before any work is spent on it, a request this version's queue would refuse
     * (full, or past max-queue-wait): under overload the refusals then cost no tokenization.
     *
     * @throws dev.igate.protocol.ServerBusyException when the queue would refuse it
     */
    public void checkAdmission() {
        checkAdmission(Scheduling.DEFAULT);
    }

    /** As {@link #checkAdmission()} for a request of this priority, which waits only behind its level and higher ones. */
    public void checkAdmission(Scheduling scheduling) {
        if (batcher != null) {
            batcher.checkAdmission(scheduling.level());
        }
    }

    /** How long a request queued now is expected to wait for its run (zero for a remote predictor). */
    public java.time.Duration expectedQueueWait() {
        return batcher == null ? java.time.Duration.ZERO : batcher.expectedQueueWait();
    }

    public BatchingSettings batching() {
        return batcher == null ? null : batcher.settings();
    }

    /**
     * Retires this version: lets every piece of work in flight finish (tokenizations, queued and
     * running batches, explanations; up to {@code limit}), refuses new work, answers whatever is
     * still queued past the limit with 503, waits for what still runs, then closes the sessions and
     * the tokenizer. Callers that resolved this version before it was replaced get their answers.
     * Blocking.
     */
    public void drainAndClose(java.time.Duration limit) {
        inFlight.drainThenClose(limit);
        if (batcher != null) {
            batcher.close();
        }
        // explanations still running fail at their next piece once the batcher is closed, and end
        inFlight.awaitNone();
        close();
    }

    @Override
    public void close() {
        if (batcher != null) {
            batcher.close();
        }
        synchronized (this) {
            if (explainer != null) {
                explainer.close();
            }
        }
        if (encoder != null) {
            encoder.close();
        }
        if (sessions != null) {
            sessions.close();
        }
        if (modelFile != null) {
            unpin(modelFile);
        }
    }
}
