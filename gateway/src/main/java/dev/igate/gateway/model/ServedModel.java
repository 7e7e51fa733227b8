package dev.igate.gateway.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

import dev.igate.explainer.GradientUnavailableException;
import dev.igate.explainer.IntegratedGradients;
import dev.igate.explainer.TextExplainer;
import dev.igate.gateway.ModelProperties;
import dev.igate.predictor.ModelConfig;
import dev.igate.predictor.ModelLoadException;
import dev.igate.predictor.ModelRepository;
import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.SessionSettings;
import dev.igate.protocol.NotImplementedException;
import dev.igate.protocol.ServerBusyException;
import dev.igate.protocol.Tensor;
import dev.igate.protocol.TensorMetadata;
import dev.igate.transformer.LabelDecoder;
import dev.igate.transformer.TextEncoder;
import dev.igate.transformer.TokenBatch;

/**
 * One loaded model version: its ONNX Runtime session, its tokenizer and labels when it is a text
 * classifier, and the worker threads that run it. Blocking work for this version runs on
 * {@link #submit}'s threads only, never on the caller's.
 */
public final class ServedModel implements AutoCloseable {

    public static final String LOGITS = "logits";

    private final String name;
    private final String version;
    private final OnnxModel onnx;
    private final TextEncoder encoder;
    private final LabelDecoder labels;
    private final String logitsOutput;
    private final ThreadPoolExecutor worker;
    private final Path directory;
    private final SessionSettings settings;
    private TextExplainer explainer;
    private String explainerUnavailable;

    private ServedModel(String name, String version, OnnxModel onnx, TextEncoder encoder, LabelDecoder labels,
                        int concurrency, int queueCapacity, Path directory, SessionSettings settings) {
        this.directory = directory;
        this.settings = settings;
        this.name = name;
        this.version = version;
        this.onnx = onnx;
        this.encoder = encoder;
        this.labels = labels;
        this.logitsOutput = onnx.outputs().stream().map(TensorMetadata::name)
                .filter(LOGITS::equals).findFirst().orElse(onnx.outputs().get(0).name());
        this.worker = new ThreadPoolExecutor(concurrency, concurrency, 0, TimeUnit.MILLISECONDS,
                new ArrayBlockingQueue<>(queueCapacity), threads("infer-" + name + "-v" + version));
    }

    /**
     * Loads a version from the repository. Blocking: reads files, creates the session and the tokenizer.
     *
     * @throws ModelLoadException when any file is missing or invalid
     */
    static ServedModel load(ModelRepository repository, String name, String version, ModelProperties props,
                            int maxLength) throws ModelLoadException {
        Path dir = repository.versionDir(name, version);
        ModelConfig config = ModelConfig.read(dir.resolve(ModelRepository.CONFIG_FILE));
        OnnxModel onnx = OnnxModel.load(dir.resolve(ModelRepository.MODEL_FILE), props.sessionSettings());
        TextEncoder encoder = null;
        try {
            Path tokenizer = dir.resolve(ModelRepository.TOKENIZER_FILE);
            if (Files.isRegularFile(tokenizer) && onnx.hasInput("input_ids")) {
                int limit = config.maxPositionEmbeddings() > 0 ? Math.min(maxLength, config.maxPositionEmbeddings()) : maxLength;
                encoder = TextEncoder.load(tokenizer, limit);
            }
            LabelDecoder labels = config.labels().isEmpty() ? null : new LabelDecoder(config.labels());
            return new ServedModel(name, version, onnx, encoder, labels, props.concurrency(), props.queueCapacity(),
                    dir, props.sessionSettings());
        } catch (IOException | RuntimeException e) {
            onnx.close();
            throw new ModelLoadException("tokenizer.json could not be loaded: " + e.getMessage(), e);
        }
    }

    private static ThreadFactory threads(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    public String name() {
        return name;
    }

    public String version() {
        return version;
    }

    public OnnxModel onnx() {
        return onnx;
    }

    /** Whether texts can be sent: the model has a tokenizer and labels. */
    public boolean acceptsText() {
        return encoder != null && labels != null;
    }

    public TextEncoder encoder() {
        return encoder;
    }

    public LabelDecoder labels() {
        return labels;
    }

    public String logitsOutput() {
        return logitsOutput;
    }

    /** The session inputs for a token batch: input_ids, attention_mask and, when the model takes it, token_type_ids. */
    public List<Tensor> feeds(TokenBatch batch) {
        long[] shape = {batch.rows(), batch.length()};
        List<Tensor> feeds = new ArrayList<>(3);
        feeds.add(Tensor.ofLongs("input_ids", shape, batch.inputIds()));
        if (onnx.hasInput("attention_mask")) {
            feeds.add(Tensor.ofLongs("attention_mask", shape, batch.attentionMask()));
        }
        if (onnx.hasInput("token_type_ids")) {
            feeds.add(Tensor.ofLongs("token_type_ids", shape, batch.typeIds()));
        }
        return feeds;
    }

    /**
     * Runs blocking work on this version's workers.
     *
     * @throws ServerBusyException when the version's queue is full
     */
    public <T> CompletableFuture<T> submit(Supplier<T> work) {
        try {
            return CompletableFuture.supplyAsync(work, worker);
        } catch (RejectedExecutionException e) {
            throw new ServerBusyException("Model " + name + " version " + version + " has "
                    + worker.getQueue().size() + " requests queued, retry later", Duration.ofSeconds(1));
        }
    }

    /**
     * Runs one inference so that the first client does not pay for lazy initialisation. Blocking.
     * Text models classify a short sentence; tensor models get zeros, with 1 for every variable dimension.
     */
    void warmUp() {
        if (acceptsText()) {
            TokenBatch batch = encoder.encode(List.of("Warm-up sentence for the model."));
            labels.decode(onnx.run(feeds(batch), List.of(logitsOutput)).get(0).floats(), 1);
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
        onnx.run(zeros, List.of());
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
            if (!acceptsText()) {
                explainerUnavailable = "Model " + name + " is not a text classifier (no tokenizer.json or id2label)";
            } else {
                try {
                    IntegratedGradients ig = IntegratedGradients.prepare(directory.resolve(ModelRepository.MODEL_FILE),
                            logitsOutput, settings);
                    explainer = new TextExplainer(ig, encoder, labels);
                } catch (IOException | GradientUnavailableException | ModelLoadException e) {
                    explainerUnavailable = "Model " + name + " cannot be explained: " + e.getMessage();
                }
            }
        }
        if (explainer == null) {
            throw new NotImplementedException(explainerUnavailable);
        }
        return explainer;
    }

    /** Requests waiting for a worker. */
    public int queueDepth() {
        return worker.getQueue().size();
    }

    @Override
    public void close() {
        worker.shutdown();
        try {
            worker.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (this) {
            if (explainer != null) {
                explainer.close();
            }
        }
        if (encoder != null) {
            encoder.close();
        }
        onnx.close();
    }
}
