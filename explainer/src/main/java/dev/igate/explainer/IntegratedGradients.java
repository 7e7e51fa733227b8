package dev.igate.explainer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.igate.predictor.BatchDependence;
import dev.igate.predictor.InstanceLayout;
import dev.igate.predictor.ModelInstances;
import dev.igate.predictor.ModelLoadException;
import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.SessionSettings;
import dev.igate.predictor.SharedTables;
import dev.igate.predictor.batching.InstanceJob;
import dev.igate.predictor.batching.InstanceScheduler;
import dev.igate.predictor.batching.Placement;
import dev.igate.predictor.onnx.OnnxProtos;
import dev.igate.protocol.Tensor;
import dev.igate.protocol.TensorMetadata;
import dev.igate.transformer.LabelDecoder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Integrated gradients for an ONNX sequence classifier, attributing a class logit to the word
 * embeddings, the way Captum's (Layer)IntegratedGradients does for PyTorch BERT models.
 *
 * <p>Gradients come from a gradient graph built by {@link GradientBuilder} and run by ONNX
 * Runtime on the predictor's execution provider ({@code graph}), or, when the model has an
 * operator without a gradient rule or the caller asks for it, from central finite differences
 * of forward passes ({@code blackbox}). All methods block; thread-safe.
 *
 * <p>The gradient (and forward) graph is opened once per instance of the model version's layout,
 * and an explanation's path points are cut into pieces that run as {@link InstanceJob}s on the
 * version's scheduler: they take their turn on the device beside predictions, and run on as many
 * instances at once as are free.
 */
public final class IntegratedGradients implements AutoCloseable {

    public static final String GRAPH = "graph";
    public static final String BLACKBOX = "blackbox";
    public static final String TARGETS = "targets";
    /** The seed input of a per-token model's gradient graph: the weight of each output of each row. */
    public static final String TARGET_WEIGHTS = "target_weights";
    /**
     * The gradient graph's BOOL {@code [1]} input that says whether a run computes the gradient too:
     * false for logits alone (F(x) and F(baseline)), which then skip the backward pass.
     */
    public static final String BACKWARD = "backward";
    /** Larger step of the central differences, a share of the token's (x − x′) segment; the smaller is half of it. */
    static final double FINITE_DIFFERENCE_STEP = 1e-2;
    /**
     * Size of a piece of a gradient graph's run when the request names no internal batch size, in
     * rows x seq x (seq + {@link #PIECE_SEQ_OFFSET}): the backward pass keeps every forward
     * activation of the piece, and a row's activations grow with its tokens (the
     * feed-forward layers) and with their square (attention), and a piece's activations stay in
     * ONNX Runtime's arena at their peak. 28 rows of 16 tokens, 2 of 128, 1 of 150 or more: small
     * enough that predictions queued meanwhile wait one piece and two pieces in flight hold
     * ~0.1 GB, and as fast as bigger pieces (measured through the server on the demo model: 1 row of
     * ~150 tokens 1,322 ms against 1,389 ms for 5 rows, 280 MB less resident; BENCHMARKS.md).
     */
    static final int PIECE_BUDGET = 65_536;
    static final int PIECE_SEQ_OFFSET = 128;
    /**
     * Padded tokens per piece of forward-only runs (black-box IG, occlusion, SHAP), which keep no
     * activations: small enough that predictions queued meanwhile wait one piece, not the whole
     * explanation, and big enough to run at full speed.
     */
    static final int FORWARD_PIECE_TOKENS = 1024;
    /** Most padded tokens in one run whatever internal_batch_size asks (gigabytes of activations otherwise). */
    static final int MAX_PIECE_TOKENS = 4096;

    /**
     * Model rows an attribution of a {@code seq}-token sample over {@code points} path points
     * runs: F(x) and F(baseline), then one row per point with the gradient graph, or four per
     * point and token (central differences at two steps) with the black-box method.
     */
    public long rows(int seq, int points, String gradients) {
        String method = gradients == null ? (gradient != null ? GRAPH : BLACKBOX) : gradients;
        return 2L + (method.equals(GRAPH) ? points : (long) BLACKBOX_ROWS * points * seq);
    }

    private static final Logger log = LoggerFactory.getLogger(IntegratedGradients.class);

    /** The lookup and its table; its model is dropped once prepared (tens of MB of weights on the heap). */
    private final EmbeddingGraph graph;
    private final SharedTables tables;
    private final String output;
    private final Path modelFile;
    private final SessionSettings settings;
    private final InstanceLayout layout;
    private final ModelInstances gradient;
    private final String gradientUnavailable;
    /**
     * Whether each row must run alone: a batch-wide operator (dynamic quantization's scale) makes a
     * row's logits depend on the rows run with it, so path points batched together would be
     * explained through other points' quantization, and F(x) would not be what the model predicts.
     */
    private final boolean rowsAlone;
    /**
     * Labels per token of a per-token model ({@code [batch, tokens, labels]} output), whose gradient
     * graph takes {@link #TARGET_WEIGHTS}; 0 for a {@code [batch, classes]} output, whose graph takes
     * {@link #TARGETS}.
     */
    private final int tokenLabels;
    /** Which graph the gradient graph was built from: "optimized" (ONNX Runtime's, fused) or "written"; null without one. */
    private final String differentiated;
    /**
     * Whether the gradient graph emulates a batch-wide model's dynamic quantization row by row
     * ({@link QuantizationEmulation}), so that path points batch; F(x) and F(x') then come from the
     * model's own forward graph, row by row, as served.
     */
    private final boolean emulated;
    /** The quantization operator the gradient graph passes straight through, or null. */
    private final String straightThrough;
    private volatile ModelInstances forward;

    private IntegratedGradients(EmbeddingGraph graph, SharedTables tables, String output, Path modelFile, SessionSettings settings,
                                InstanceLayout layout, ModelInstances gradient, String gradientUnavailable, boolean rowsAlone,
                                String straightThrough, String differentiated, boolean emulated, int tokenLabels) {
        this.tokenLabels = tokenLabels;
        this.graph = graph.withoutModel();
        this.tables = tables;
        this.output = output;
        this.modelFile = modelFile;
        this.settings = settings;
        this.layout = layout;
        this.gradient = gradient;
        this.gradientUnavailable = gradientUnavailable;
        this.rowsAlone = rowsAlone;
        this.straightThrough = straightThrough;
        this.differentiated = differentiated;
        this.emulated = emulated;
    }

    /**
     * Prepares a model: cuts out its embedding lookup and builds and loads its gradient graph.
     * Blocking, about a second for MiniLM.
     *
     * @throws GradientUnavailableException when the model has no word-embedding lookup to attribute to
     * @throws ModelLoadException           when ONNX Runtime rejects the rewritten model
     */
    public static IntegratedGradients prepare(Path modelFile, String output, SessionSettings settings)
            throws IOException, GradientUnavailableException, ModelLoadException {
        int threads = settings.intraOpThreads() > 0 ? settings.intraOpThreads() : Runtime.getRuntime().availableProcessors();
        return prepare(modelFile, output, settings, new InstanceLayout(1, threads, 0, false));
    }

    /**
     * Prepares a model for the instances of a layout: one gradient session per instance (or one
     * shared, as the layout says); the solo session has no counterpart here. Without a gradient
     * graph, because an operator has no rule or ONNX Runtime rejects the graph built, explanations
     * use the black-box method. Blocking.
     *
     * @throws GradientUnavailableException when the model has no word-embedding lookup to attribute to
     * @throws ModelLoadException           when ONNX Runtime rejects the rewritten model
     */
    public static IntegratedGradients prepare(Path modelFile, String output, SessionSettings settings, InstanceLayout layout)
            throws IOException, GradientUnavailableException, ModelLoadException {
        return prepare(modelFile, output, settings, layout, SharedTables.NONE);
    }

    /**
     * As {@link #prepare(Path, String, SessionSettings, InstanceLayout)}, the word-embedding table
     * read from the serving sessions' shared tables when it is one of them (not copied again).
     */
    public static IntegratedGradients prepare(Path modelFile, String output, SessionSettings settings, InstanceLayout layout,
                                              SharedTables tables) throws IOException, GradientUnavailableException, ModelLoadException {
        long start = System.nanoTime();
        InstanceLayout instances = new InstanceLayout(layout.instances(), layout.threads(), 0, layout.shared());
        ModelProto model = OnnxProtos.read(modelFile);
        boolean batchWide = BatchDependence.batchWideOperator(model) != null;
        int tokenLabels = tokenLabels(model, output);
        // EmbedLayerNormalization hides the lookup, and Attention has no rule: both as the operators they fuse
        EmbeddingGraph graph = EmbeddingGraph.of(FusedOperators.decompose(model), tables);
        // the file as read holds the word table's bytes, which the graph cut out: not kept through what follows
        model = null;
        ModelInstances gradient = null;
        String unavailable = null;
        String differentiated = null;
        // the graph ONNX Runtime's optimizer makes first, fused operators and all, so that the gradient
        // graph computes the forward values the serving sessions compute (an int8 model's fused
        // DynamicQuantizeMatMul rounds differently from its unfused operators); the graph as written
        // when a fused operator has no rule
        List<ModelProto> candidates = new ArrayList<>();
        if (!settings.optimizationLevel().equals("none")) {
            try {
                candidates.add(FusedOperators.decompose(OnnxModel.optimized(graph.model(), settings,
                        "embedding graph of " + modelFile.getFileName())));
            } catch (ModelLoadException e) {
                log.info("{}: ONNX Runtime's optimized graph unavailable ({}); differentiating the graph as written", modelFile, e.getMessage());
            }
        }
        candidates.add(graph.model());
        boolean emulated = false;
        for (ModelProto candidate : candidates) {
            boolean optimized = candidate != graph.model();
            // a batch-wide model's quantization emulated row by row first, so path points batch
            ModelProto perRow = batchWide ? QuantizationEmulation.emulate(candidate) : null;
            for (ModelProto form : perRow != null ? List.of(perRow, candidate) : List.of(candidate)) {
                // sessions opened here and not kept are closed, whatever ends the try (a failed probe included)
                ModelInstances opened = null;
                try {
                    opened = openGradient(form, output, graph, instances, settings, modelFile, tokenLabels);
                    if (form == perRow && !rowsIndependent(opened.instance(0), graph, tokenLabels)) {
                        log.info("{}: emulated per-row quantization still mixes rows; each path point runs alone", modelFile);
                        continue;
                    }
                    gradient = opened;
                    opened = null;
                    emulated = form == perRow;
                    unavailable = null;
                    differentiated = optimized ? "optimized" : "written";
                    log.info("{}: gradient graph built from the {} graph{}", modelFile, differentiated,
                            emulated ? ", its dynamic quantization emulated row by row" : "");
                    break;
                } catch (GradientUnavailableException e) {
                    unavailable = e.getMessage();
                } catch (ModelLoadException e) {
                    // a rule that does not fit the model (e.g. a FLOAT constant beside DOUBLE tensors) must cost
                    // only the faster method, not the model's explanations
                    unavailable = "ONNX Runtime rejected the gradient graph: " + e.getMessage();
                } finally {
                    if (opened != null) {
                        opened.close();
                    }
                }
                log.info("{}: no gradient graph from the {} graph: {}", modelFile, optimized ? "optimized" : "written", unavailable);
            }
            if (gradient != null) {
                break;
            }
        }
        if (gradient == null) {
            log.warn("{}: gradient graph unavailable ({}); explanations use the black-box method", modelFile, unavailable);
        }
        log.info("Integrated gradients ready for {} in {} ms ({})", modelFile.getParent().getParent().getFileName() + "/" + modelFile.getParent().getFileName(),
                (System.nanoTime() - start) / 1_000_000, gradient != null ? "gradient graph" : "black-box only");
        String quantized = graph.model().getGraph().getNodeList().stream()
                .filter(n -> GradientBuilder.STRAIGHT_THROUGH.contains(n.getOpType()))
                .map(n -> n.getOpType() + " (node " + n.getName() + ")").findFirst().orElse(null);
        try {
            return new IntegratedGradients(graph, tables, output, modelFile, settings, instances, gradient, unavailable,
                    batchWide, gradient == null ? null : quantized, differentiated, emulated, tokenLabels);
        } catch (RuntimeException e) {
            if (gradient != null) {
                gradient.close();
            }
            throw e;
        }
    }

    /**
     * Whether a gradient graph's rows are independent of each other: the gradients of the probe's
     * two sample rows run together equal those of each run alone.
     */
    private static boolean rowsIndependent(OnnxModel session, EmbeddingGraph graph, int tokenLabels) throws GradientUnavailableException {
        try {
            return rowsIndependentOrFail(session, graph, tokenLabels);
        } catch (RuntimeException e) {
            // a gradient graph that cannot run two rows at once does not keep them apart either
            log.info("per-row probe of the gradient graph failed ({}): each path point runs alone", e.getMessage());
            return false;
        }
    }

    private static boolean rowsIndependentOrFail(OnnxModel session, EmbeddingGraph graph, int tokenLabels)
            throws GradientUnavailableException {
        List<Tensor> both = sampleInputs(graph);
        String grad = GradientBuilder.gradName(EmbeddingGraph.INPUTS_EMBEDS);
        List<Tensor> feeds = new ArrayList<>(both);
        int seq = (int) both.get(0).shape()[1];
        float[] ones = new float[seq * Math.max(1, tokenLabels)];
        java.util.Arrays.fill(ones, 1f);
        Objective probe = tokenLabels > 0 ? Objective.ofWeights(ones) : Objective.ofClass(0);
        feeds.add(targetFeed(tokenLabels, 2, seq, probe));
        feeds.add(backwardFeed(true));
        float[] together = session.run(feeds, List.of(grad)).get(0).floats();
        int width = together.length / 2;
        for (int r = 0; r < 2; r++) {
            List<Tensor> row = new ArrayList<>();
            for (Tensor t : both) {
                row.add(rowOf(t, r));
            }
            row.add(targetFeed(tokenLabels, 1, seq, probe));
            row.add(backwardFeed(true));
            float[] alone = session.run(row, List.of(grad)).get(0).floats();
            for (int j = 0; j < width; j++) {
                if (Math.abs(alone[j] - together[r * width + j]) > 1e-4 + 1e-3 * Math.abs(alone[j])) {
                    return false;
                }
            }
        }
        return true;
    }

    /** Row {@code r} of a tensor whose first axis is the batch. */
    private static Tensor rowOf(Tensor t, int r) {
        long[] shape = t.shape().clone();
        int per = Math.toIntExact(Tensor.elementCount(shape) / shape[0]);
        shape[0] = 1;
        Object data = java.lang.reflect.Array.newInstance(t.data().getClass().getComponentType(), per);
        System.arraycopy(t.data(), r * per, data, 0, per);
        return new Tensor(t.name(), t.datatype(), shape, data);
    }

    /** Whether the gradient graph emulates dynamic quantization row by row, so that path points batch. */
    public boolean quantizationEmulated() {
        return emulated;
    }

    /** Builds the gradient graph of {@code model} (an embedding graph) and opens it on every instance of the layout. */
    private static ModelInstances openGradient(ModelProto model, String output, EmbeddingGraph graph, InstanceLayout instances,
                                               SessionSettings settings, Path modelFile, int tokenLabels)
            throws GradientUnavailableException, ModelLoadException {
        GradientBuilder.Path path = GradientBuilder.activePath(model.getGraph(), EmbeddingGraph.INPUTS_EMBEDS, output);
        var shapes = ShapeProbe.shapes(model, path.probed(), sampleInputs(graph));
        // a per-token model's graph is seeded with a weight per output (an entity's tokens and label); a classifier's
        // with a class per row
        ModelProto gradient = GradientBuilder.buildGated(model, EmbeddingGraph.INPUTS_EMBEDS, output,
                tokenLabels > 0 ? TARGET_WEIGHTS : null, tokenLabels > 0 ? null : TARGETS, shapes, BACKWARD);
        // one file for every instance's session, and no serialized copy of the graph on the heap
        String description = "gradient graph of " + modelFile.getFileName();
        return OnnxModel.throughFile(gradient, description,
                file -> ModelInstances.open(instances, settings, s -> OnnxModel.load(file, s, description)));
    }

    /**
     * Labels per token when the model's output is {@code [batch, tokens, labels]} (its last
     * dimension fixed), else 0.
     */
    private static int tokenLabels(ModelProto model, String output) {
        for (ValueInfoProto out : model.getGraph().getOutputList()) {
            if (out.getName().equals(output)) {
                List<TensorShapeProto.Dimension> dims = out.getType().getTensorType().getShape().getDimList();
                return dims.size() == 3 && dims.get(2).getDimValue() > 0 ? (int) dims.get(2).getDimValue() : 0;
            }
        }
        return 0;
    }

    /** The gradient graph's gate: true to compute the gradient, false for the forward outputs alone. */
    private static Tensor backwardFeed(boolean on) {
        return new Tensor(BACKWARD, dev.igate.protocol.Datatype.BOOL, new long[] {1}, new boolean[] {on});
    }

    /**
     * The gradient graph's seed feed for {@code rows} rows: each row's class ({@link #TARGETS}), or
     * for a per-token model the objective's weights repeated per row ({@link #TARGET_WEIGHTS},
     * {@code [rows, seq, labels]}).
     */
    private static Tensor targetFeed(int tokenLabels, int rows, int seq, Objective objective) {
        if (tokenLabels == 0) {
            long[] targets = new long[rows];
            java.util.Arrays.fill(targets, Math.max(0, objective.target()));
            return Tensor.ofLongs(TARGETS, new long[] {rows}, targets);
        }
        int per = seq * tokenLabels;
        float[] weights = new float[rows * per];
        if (objective.weighted()) {
            for (int r = 0; r < rows; r++) {
                System.arraycopy(objective.weights(), 0, weights, r * per, per);
            }
        }
        return Tensor.ofFloats(TARGET_WEIGHTS, new long[] {rows, seq, tokenLabels}, weights);
    }

    /** Sample inputs with every variable dimension above one (batch 2, sequence 5) for the shape probe. */
    static List<Tensor> sampleInputs(EmbeddingGraph graph) throws GradientUnavailableException {
        Random random = new Random(11);
        List<Tensor> feeds = new ArrayList<>();
        for (ValueInfoProto in : graph.model().getGraph().getInputList()) {
            String name = in.getName();
            List<TensorShapeProto.Dimension> dims = in.getType().getTensorType().getShape().getDimList();
            long[] shape = new long[dims.size()];
            for (int i = 0; i < shape.length; i++) {
                long fixed = dims.get(i).getDimValue();
                shape[i] = fixed > 0 ? fixed : i == 0 ? 2 : i == 1 ? 5 : graph.hidden();
            }
            int n = Math.toIntExact(Tensor.elementCount(shape));
            int type = in.getType().getTensorType().getElemType();
            if (name.equals(EmbeddingGraph.INPUTS_EMBEDS)) {
                float[] v = new float[n];
                for (int i = 0; i < n; i++) {
                    v[i] = (float) (random.nextGaussian() * 0.05);
                }
                feeds.add(Tensor.ofFloats(name, shape, v));
            } else if (type == ai.onnx.proto.OnnxMl.TensorProto.DataType.INT64_VALUE
                    || type == ai.onnx.proto.OnnxMl.TensorProto.DataType.INT32_VALUE) {
                long[] v = new long[n];
                java.util.Arrays.fill(v, name.equals("attention_mask") ? 1 : name.equals(EmbeddingGraph.INPUT_IDS) ? 1000 % graph.vocab() : 0);
                feeds.add(type == ai.onnx.proto.OnnxMl.TensorProto.DataType.INT32_VALUE ? OnnxModel.int32(name, shape, v)
                        : Tensor.ofLongs(name, shape, v));
            } else {
                throw new GradientUnavailableException("Input " + name + " has an element type the explainer cannot sample");
            }
        }
        return feeds;
    }

    public EmbeddingGraph embeddings() {
        return graph;
    }

    /** Whether the gradient graph exists; otherwise {@link #gradientUnavailableReason()} says why. */
    public boolean hasGradientGraph() {
        return gradient != null;
    }

    /**
     * The quantization operator (and node) whose gradient the graph method takes as the identity
     * (straight-through: a quantized model's true derivative is zero almost everywhere), or null
     * for a model without quantization.
     */
    public String straightThrough() {
        return straightThrough;
    }

    /**
     * Which graph the gradient graph differentiates: "optimized" (ONNX Runtime's optimized graph, as
     * served), "written" (the model as written, when a fused operator of the optimized one has no
     * rule), or null without a gradient graph.
     */
    public String differentiatedGraph() {
        return differentiated;
    }

    public String gradientUnavailableReason() {
        return gradientUnavailable;
    }

    /**
     * One text's token ids with its mask and segment ids, and the ids of its baseline.
     *
     * @param ids         token ids, no padding
     * @param mask        attention mask
     * @param types       token type ids
     * @param baselineIds baseline token ids, or null for an all-zero baseline embedding
     */
    public record Sample(long[] ids, long[] mask, long[] types, long[] baselineIds) {
    }

    /**
     * Attributes a class logit to the sample's word embeddings.
     *
     * @param target        class index, or -1 for the predicted class
     * @param quadrature    path points and weights
     * @param gradients     {@link #GRAPH}, {@link #BLACKBOX}, or null for the graph when it exists
     * @param internalBatch rows per ONNX Runtime run, or 0 to size by sequence length
     */
    public Attribution attribute(Sample sample, int target, Quadrature quadrature, String gradients, int internalBatch) {
        return attribute(sample, target, quadrature, gradients, internalBatch, InstanceScheduler.CALLER_THREAD);
    }

    /**
     * Attributes a class logit to the sample's word embeddings, running the pieces on the model
     * version's instances through {@code scheduler}, as many at once as the layout has instances.
     *
     * @param target        class index, or -1 for the predicted class
     * @param quadrature    path points and weights
     * @param gradients     {@link #GRAPH}, {@link #BLACKBOX}, or null for the graph when it exists
     * @param internalBatch rows per ONNX Runtime run, or 0 to size by sequence length and instances
     * @param scheduler     where the pieces run (the version's batcher)
     * @throws dev.igate.protocol.ServerBusyException when the version's queue is full
     */
    public Attribution attribute(Sample sample, int target, Quadrature quadrature, String gradients, int internalBatch,
                                 InstanceScheduler scheduler) {
        return attribute(sample, Objective.ofClass(target), quadrature, gradients, internalBatch, scheduler);
    }

    /**
     * As {@link #attribute(Sample, int, Quadrature, String, int, InstanceScheduler)}, for any
     * objective: a class logit, or a weighting of a row's outputs (an entity of a per-token model).
     *
     * @throws IllegalArgumentException for a class past the outputs, weights of another length than a row's
     *                                  outputs, or a class of a per-token model
     */
    public Attribution attribute(Sample sample, Objective objective, Quadrature quadrature, String gradients, int internalBatch,
                                 InstanceScheduler scheduler) {
        return attribute(sample, List.of(objective), quadrature, gradients, internalBatch, scheduler).get(0);
    }

    /**
     * As {@link #attribute(Sample, Objective, Quadrature, String, int, InstanceScheduler)} for several
     * objectives of one sample (top_k's classes), sharing what they can: F(x) and F(baseline) always,
     * and the black-box method's every forward pass (each gives every output); the gradient graph
     * runs its path once per objective, a gradient being of one objective.
     */
    public List<Attribution> attribute(Sample sample, List<Objective> objectives, Quadrature quadrature, String gradients,
                                       int internalBatch, InstanceScheduler scheduler) {
        String method = gradients == null ? (gradient != null ? GRAPH : BLACKBOX) : gradients;
        if (method.equals(GRAPH) && gradient == null) {
            throw new IllegalStateException("gradient graph unavailable: " + gradientUnavailable);
        }
        int seq = sample.ids().length;
        float[][] in = inputs(sample);
        float[] x = in[0];
        float[] baseline = in[1];
        int points = quadrature.alphas().length;
        int[] pieces = pieces(method.equals(GRAPH) ? points : BLACKBOX_ROWS * points * seq, internalBatch, seq, method.equals(GRAPH));

        Ends ends = ends(sample, x, baseline, method, objectives, scheduler);
        List<Estimate> estimates = new ArrayList<>();
        if (method.equals(GRAPH)) {
            for (Objective o : ends.objectives()) {
                estimates.add(new Estimate(graphScores(sample, x, baseline, o, quadrature, pieces, scheduler), Double.NaN));
            }
        } else {
            estimates = blackboxScores(sample, x, baseline, ends.objectives(), quadrature, pieces, scheduler);
        }
        long rows = rows(seq, points, method);
        List<Attribution> out = new ArrayList<>();
        for (int k = 0; k < estimates.size(); k++) {
            Objective o = ends.objectives().get(k);
            double[] scores = estimates.get(k).scores();
            double sum = 0;
            for (double v : scores) {
                sum += v;
            }
            double change = ends.change(o);
            out.add(new Attribution(scores, sum - change, o.target(), ends.fx(), ends.fb(), method, quadrature.alphas().length, rows,
                    estimates.get(k).disagreement(), change));
        }
        return out;
    }

    /**
     * F(x) and F(baseline), one row after the other: on two instances at once when there are two;
     * an emulated gradient graph's logits are close to the model's, not the model's, so then from
     * the forward graph, as served.
     */
    private float[] endLogits(Sample sample, float[] x, float[] baseline, String method, InstanceScheduler scheduler) {
        int width = x.length;
        String ends = emulated ? BLACKBOX : method;
        if (layout.instances() > 1) {
            CompletableFuture<float[]> fx = scheduler.submit(new InstanceJob<>(1, at -> logits(ends, at, sample, x, 1)));
            CompletableFuture<float[]> fb = scheduler.submit(new InstanceJob<>(1, at -> logits(ends, at, sample, baseline, 1)));
            float[] a = join(fx);
            float[] b = join(fb);
            float[] out = new float[a.length + b.length];
            System.arraycopy(a, 0, out, 0, a.length);
            System.arraycopy(b, 0, out, a.length, b.length);
            return out;
        }
        float[] both = new float[2 * width];
        System.arraycopy(x, 0, both, 0, width);
        System.arraycopy(baseline, 0, both, width, width);
        return join(scheduler.submit(new InstanceJob<>(2, at -> logits(ends, at, sample, both, 2))));
    }

    /** F(x) and F(baseline) of a sample, and the objectives resolved against them. */
    private record Ends(float[] fx, float[] fb, List<Objective> objectives) {

        Objective objective() {
            return objectives.get(0);
        }

        /** What an objective's attributions sum to without error: its value at the input minus at the baseline. */
        double change(Objective o) {
            return o.value(fx, 0) - o.value(fb, 0);
        }
    }

    private Ends ends(Sample sample, float[] x, float[] baseline, String method, List<Objective> objectives, InstanceScheduler scheduler) {
        if (objectives.isEmpty()) {
            throw new IllegalArgumentException("nothing to attribute: no objective");
        }
        float[] both = endLogits(sample, x, baseline, method, scheduler);
        int classes = both.length / 2;
        float[] fx = java.util.Arrays.copyOfRange(both, 0, classes);
        return new Ends(fx, java.util.Arrays.copyOfRange(both, classes, 2 * classes), objectives.stream().map(o -> resolve(o, fx)).toList());
    }

    /** Each group's value spread evenly over its tokens (-1: tokens of no group score 0), so a merged word scores its value. */
    private static double[] spread(double[] values, int[] groups) {
        int[] sizes = new int[values.length];
        for (int g : groups) {
            if (g >= 0) {
                sizes[g]++;
            }
        }
        double[] scores = new double[groups.length];
        for (int i = 0; i < groups.length; i++) {
            if (groups[i] >= 0) {
                scores[i] = values[groups[i]] / sizes[groups[i]];
            }
        }
        return scores;
    }

    /**
     * The objective as it applies to a row of {@code fx.length} outputs: the predicted class for -1.
     *
     * @throws IllegalArgumentException for a class past the outputs, weights of another length, or a class of a
     *                                  per-token model
     */
    private Objective resolve(Objective objective, float[] fx) {
        int classes = fx.length;
        if (objective.weighted()) {
            if (objective.weights().length != classes) {
                throw new IllegalArgumentException("the objective weighs " + objective.weights().length + " outputs, a row has " + classes);
            }
            return objective;
        }
        if (tokenLabels > 0) {
            throw new IllegalArgumentException("the model answers per token: explain an entity (its tokens and label), not a class");
        }
        int t = objective.target() >= 0 ? objective.target() : LabelDecoder.argmax(fx);
        if (t >= classes) {
            throw new IllegalArgumentException("target " + t + " is not below the " + classes + " classes");
        }
        return Objective.ofClass(t);
    }

    /** Embeddings of the sample's tokens and of its baseline's (zeros without one). */
    private float[][] inputs(Sample sample) {
        int width = sample.ids().length * graph.hidden();
        float[] x = new float[width];
        graph.lookup(sample.ids(), x, 0);
        float[] baseline = new float[width];
        if (sample.baselineIds() != null) {
            graph.lookup(sample.baselineIds(), baseline, 0);
        }
        return new float[][] {x, baseline};
    }

    /**
     * Attributions from the objective's gradient at the input alone, no path: per token the L2
     * norm of the gradient over the hidden units (saliency, as Captum's Saliency; the gradient graph
     * only), or x · gradient summed over them (Captum's InputXGradient; without the graph, the
     * central difference along each token's x). Nothing sums to the output's change, so the delta is
     * NaN; the change F(x) − F(baseline) is reported beside.
     *
     * @throws IllegalArgumentException for saliency without a gradient graph, or an objective that does not fit
     */
    public Attribution gradientAtInput(Sample sample, Objective objective, boolean saliency, String gradients,
                                       InstanceScheduler scheduler) {
        return gradientAtInput(sample, List.of(objective), saliency, gradients, scheduler).get(0);
    }

    /** As {@link #gradientAtInput(Sample, Objective, boolean, String, InstanceScheduler)} for several objectives, sharing the forward passes. */
    public List<Attribution> gradientAtInput(Sample sample, List<Objective> objectives, boolean saliency, String gradients,
                                             InstanceScheduler scheduler) {
        String method = gradients == null ? (gradient != null ? GRAPH : BLACKBOX) : gradients;
        if (method.equals(GRAPH) && gradient == null) {
            throw new IllegalStateException("gradient graph unavailable: " + gradientUnavailable);
        }
        if (saliency && method.equals(BLACKBOX)) {
            throw new IllegalArgumentException("saliency needs the gradient graph (|gradient| per hidden unit; finite differences "
                    + "would take a forward pass per unit): use gradient_x_input or occlusion");
        }
        int seq = sample.ids().length;
        int hidden = graph.hidden();
        float[][] in = inputs(sample);
        float[] x = in[0];
        Ends ends = ends(sample, x, in[1], method, objectives, scheduler);
        int classes = ends.fx().length;
        int n = ends.objectives().size();
        double[][] scores = new double[n][seq];
        long rows;
        if (method.equals(GRAPH)) {
            for (int t = 0; t < n; t++) {
                Objective o = ends.objectives().get(t);
                float[] grad = join(scheduler.submit(new InstanceJob<>(1, at -> gradients(at, sample, x, 1, o))));
                for (int i = 0; i < seq; i++) {
                    double s = 0;
                    for (int h = 0; h < hidden; h++) {
                        double g = grad[i * hidden + h];
                        s += saliency ? g * g : x[i * hidden + h] * g;
                    }
                    scores[t][i] = saliency ? Math.sqrt(s) : s;
                }
            }
            rows = 1;
        } else {
            double step = FINITE_DIFFERENCE_STEP;
            float[] points = new float[2 * seq * x.length];
            for (int r = 0; r < 2 * seq; r++) {
                int token = r / 2;
                double sign = r % 2 == 0 ? 1 : -1;
                int o0 = r * x.length;
                System.arraycopy(x, 0, points, o0, x.length);
                for (int h = 0; h < hidden; h++) {
                    int j = token * hidden + h;
                    points[o0 + j] = (float) (x[j] * (1 + sign * step));
                }
            }
            float[] logits = join(scheduler.submit(new InstanceJob<>(2 * seq, at -> logits(BLACKBOX, at, sample, points, 2 * seq))));
            for (int t = 0; t < n; t++) {
                Objective o = ends.objectives().get(t);
                for (int i = 0; i < seq; i++) {
                    scores[t][i] = (o.value(logits, 2 * i * classes) - o.value(logits, (2 * i + 1) * classes)) / (2 * step);
                }
            }
            rows = 2L * seq;
        }
        List<Attribution> out = new ArrayList<>();
        for (int t = 0; t < n; t++) {
            Objective o = ends.objectives().get(t);
            out.add(new Attribution(scores[t], Double.NaN, o.target(), ends.fx(), ends.fb(), method, 1, rows, Double.NaN, ends.change(o)));
        }
        return out;
    }

    /**
     * Leave-one-word-out: each group of tokens (a word; -1 for tokens never left out, the special
     * ones) replaced by the baseline's embeddings, the objective's drop F(x) − F(x without the
     * group) spread evenly over the group's tokens, so a merged word scores its drop. Forward
     * passes only, batched over the instances. The delta is NaN: the drops need not sum to the change.
     */
    public Attribution occlusion(Sample sample, Objective objective, int[] groups, int internalBatch, InstanceScheduler scheduler) {
        return occlusion(sample, List.of(objective), groups, internalBatch, scheduler).get(0);
    }

    /** As {@link #occlusion(Sample, Objective, int[], int, InstanceScheduler)} for several objectives, from the same forward passes. */
    public List<Attribution> occlusion(Sample sample, List<Objective> objectives, int[] groups, int internalBatch,
                                       InstanceScheduler scheduler) {
        int seq = sample.ids().length;
        float[][] in = inputs(sample);
        float[] x = in[0];
        float[] baseline = in[1];
        Ends ends = ends(sample, x, baseline, BLACKBOX, objectives, scheduler);
        int classes = ends.fx().length;
        float[] fx = ends.fx();
        List<Objective> os = ends.objectives();
        List<Integer> ids = new ArrayList<>();
        for (int g : groups) {
            if (g >= 0 && !ids.contains(g)) {
                ids.add(g);
            }
        }
        double[][] drops = new double[os.size()][ids.size()];
        int width = x.length;
        runPieces(pieces(ids.size(), internalBatch, seq, false), scheduler, (from, rows) -> {
            float[] points = new float[rows * width];
            for (int r = 0; r < rows; r++) {
                int group = ids.get(from + r);
                perturbed(x, baseline, groups, g -> g == group, points, r);
            }
            return new InstanceJob<>(rows, at -> logits(BLACKBOX, at, sample, points, rows));
        }, (from, rows, logits) -> {
            for (int t = 0; t < os.size(); t++) {
                for (int r = 0; r < rows; r++) {
                    drops[t][from + r] = os.get(t).value(fx, 0) - os.get(t).value(logits, r * classes);
                }
            }
        });
        List<Attribution> out = new ArrayList<>();
        for (int t = 0; t < os.size(); t++) {
            // drops are in the order of the groups' first tokens: by group number, as words() numbers them
            double[] byGroup = new double[ids.stream().mapToInt(Integer::intValue).max().orElse(-1) + 1];
            for (int k = 0; k < ids.size(); k++) {
                byGroup[ids.get(k)] = drops[t][k];
            }
            Objective o = os.get(t);
            out.add(new Attribution(spread(byGroup, groups), Double.NaN, o.target(), fx, ends.fb(), BLACKBOX, 0, ids.size() + 2L,
                    Double.NaN, ends.change(o)));
        }
        return out;
    }

    /**
     * Kernel SHAP over words (Lundberg and Lee, 2017), for any model, gradient graph or not: a word
     * absent from a coalition has its tokens' embeddings set to the baseline's (as occlusion does);
     * {@code samples} coalitions are drawn with a fixed seed, their sizes by the Shapley kernel, and
     * the words' values solved by least squares under the efficiency constraint (they sum to
     * F(x) − F(baseline), so the delta is 0 by construction and reported as NaN); the empty and full
     * coalitions are the two end points. Each word's value is spread evenly over its tokens.
     *
     * @param groups each token's word, -1 for tokens always present (the special ones)
     */
    public Attribution kernelShap(Sample sample, Objective objective, int[] groups, int samples, long seed, int internalBatch,
                                  InstanceScheduler scheduler) {
        return kernelShap(sample, List.of(objective), groups, samples, seed, internalBatch, scheduler).get(0);
    }

    /** As {@link #kernelShap(Sample, Objective, int[], int, long, int, InstanceScheduler)} for several objectives, from the same coalitions. */
    public List<Attribution> kernelShap(Sample sample, List<Objective> objectives, int[] groups, int samples, long seed, int internalBatch,
                                        InstanceScheduler scheduler) {
        int seq = sample.ids().length;
        float[][] in = inputs(sample);
        float[] x = in[0];
        float[] baseline = in[1];
        Ends ends = ends(sample, x, baseline, BLACKBOX, objectives, scheduler);
        int classes = ends.fx().length;
        float[] fx = ends.fx();
        float[] fb = ends.fb();
        List<Objective> os = ends.objectives();
        int words = 0;
        for (int g : groups) {
            words = Math.max(words, g + 1);
        }
        double[][] phi = new double[os.size()][words];
        double[] empty = new double[os.size()];
        if (words == 1) {
            for (int t = 0; t < os.size(); t++) {
                empty[t] = os.get(t).value(fb, 0);
                phi[t][0] = os.get(t).value(fx, 0) - empty[t];
            }
        } else {
            // the empty coalition is every word at the baseline, special tokens kept: not the baseline's F when it differs
            boolean enumerate = (1L << Math.min(words, 62)) - 2 <= samples;
            boolean[][] coalitions = enumerate ? everyCoalition(words) : sampledCoalitions(words, samples, seed);
            // every coalition: weighted by the Shapley kernel, the regression's answer is the exact Shapley values
            double[] kernel = enumerate ? shapleyKernel(coalitions, words) : null;
            double[][] values = new double[os.size()][coalitions.length];
            int width = x.length;
            runPieces(pieces(coalitions.length, internalBatch, seq, false), scheduler, (from, rows) -> {
                float[] points = new float[rows * width];
                for (int r = 0; r < rows; r++) {
                    boolean[] present = coalitions[from + r];
                    perturbed(x, baseline, groups, g -> g >= 0 && !present[g], points, r);
                }
                return new InstanceJob<>(rows, at -> logits(BLACKBOX, at, sample, points, rows));
            }, (from, rows, logits) -> {
                for (int t = 0; t < os.size(); t++) {
                    for (int r = 0; r < rows; r++) {
                        values[t][from + r] = os.get(t).value(logits, r * classes);
                    }
                }
            });
            for (int t = 0; t < os.size(); t++) {
                empty[t] = values[t][0];
                phi[t] = efficientLeastSquares(coalitions, values[t], kernel, 1, os.get(t).value(fx, 0), empty[t], words);
            }
        }
        int evaluated = words == 1 ? 0 : Math.min(samples, (int) Math.min(Integer.MAX_VALUE, (1L << Math.min(words, 62)) - 2));
        List<Attribution> out = new ArrayList<>();
        for (int t = 0; t < os.size(); t++) {
            Objective o = os.get(t);
            out.add(new Attribution(spread(phi[t], groups), Double.NaN, o.target(), fx, fb, BLACKBOX, evaluated, evaluated + 3L, Double.NaN,
                    o.value(fx, 0) - empty[t]));
        }
        return out;
    }

    /**
     * Row {@code row} of {@code points}: the input's embeddings with the tokens of every word
     * {@code absent} says is left out set to the baseline's (occlusion's one word, a coalition's
     * missing ones).
     */
    private void perturbed(float[] x, float[] baseline, int[] groups, java.util.function.IntPredicate absent, float[] points, int row) {
        int hidden = graph.hidden();
        System.arraycopy(x, 0, points, row * x.length, x.length);
        for (int i = 0; i < groups.length; i++) {
            if (absent.test(groups[i])) {
                System.arraycopy(baseline, i * hidden, points, row * x.length + i * hidden, hidden);
            }
        }
    }

    /** The empty coalition, then every proper non-empty one (as Kernel SHAP enumerates when its budget covers them all). */
    static boolean[][] everyCoalition(int words) {
        boolean[][] coalitions = new boolean[(1 << words) - 1][];
        for (int mask = 0; mask < coalitions.length; mask++) {
            coalitions[mask] = new boolean[words];
            for (int w = 0; w < words; w++) {
                coalitions[mask][w] = (mask >> w & 1) == 1;
            }
        }
        return coalitions;
    }

    /** The empty coalition, then {@code samples} drawn by the Shapley kernel: a size by its total weight, then a random set of that size. */
    private static boolean[][] sampledCoalitions(int words, int samples, long seed) {
        boolean[][] coalitions = new boolean[samples + 1][];
        coalitions[0] = new boolean[words];
        java.util.Random random = new java.util.Random(seed);
        double[] sizeWeights = new double[words];
        double total = 0;
        for (int s = 1; s < words; s++) {
            sizeWeights[s] = (words - 1.0) / (s * (double) (words - s));
            total += sizeWeights[s];
        }
        for (int k = 1; k <= samples; k++) {
            double u = random.nextDouble() * total;
            int size = 1;
            while (size < words - 1 && u > sizeWeights[size]) {
                u -= sizeWeights[size];
                size++;
            }
            List<Integer> order = new ArrayList<>();
            for (int w = 0; w < words; w++) {
                order.add(w);
            }
            java.util.Collections.shuffle(order, random);
            coalitions[k] = new boolean[words];
            for (int i = 0; i < size; i++) {
                coalitions[k][order.get(i)] = true;
            }
        }
        return coalitions;
    }

    /** Each coalition's Shapley kernel weight, (M − 1) / (C(M, s) · s · (M − s)) for s of M words present. */
    static double[] shapleyKernel(boolean[][] coalitions, int words) {
        double[] weights = new double[coalitions.length];
        for (int k = 0; k < coalitions.length; k++) {
            int size = 0;
            for (boolean present : coalitions[k]) {
                size += present ? 1 : 0;
            }
            double choose = 1;
            for (int i = 1; i <= size; i++) {
                choose = choose * (words - size + i) / i;
            }
            weights[k] = size == 0 || size == words ? 0 : (words - 1.0) / (choose * size * (words - size));
        }
        return weights;
    }

    /**
     * Kernel SHAP's regression: the word values that best explain the sampled coalitions' values
     * (rows {@code from..}; sampled by the Shapley kernel, so weighted equally, or every coalition
     * with its kernel weight in {@code weights}) with
     * Σ φ = full − empty, by eliminating the last word; a small ridge keeps the normal equations solvable.
     */
    static double[] efficientLeastSquares(boolean[][] coalitions, double[] values, double[] weights, int from, double full, double empty,
                                          int words) {
        int m = words - 1;
        double change = full - empty;
        double[][] a = new double[m][m];
        double[] b = new double[m];
        for (int k = from; k < coalitions.length; k++) {
            double last = coalitions[k][words - 1] ? 1 : 0;
            double y = values[k] - empty - last * change;
            double[] z = new double[m];
            for (int i = 0; i < m; i++) {
                z[i] = (coalitions[k][i] ? 1 : 0) - last;
            }
            double w = weights == null ? 1 : weights[k];
            for (int i = 0; i < m; i++) {
                b[i] += w * z[i] * y;
                for (int j = 0; j < m; j++) {
                    a[i][j] += w * z[i] * z[j];
                }
            }
        }
        for (int i = 0; i < m; i++) {
            a[i][i] += 1e-6;
        }
        double[] solved = solve(a, b);
        double[] phi = new double[words];
        double sum = 0;
        for (int i = 0; i < m; i++) {
            phi[i] = solved[i];
            sum += solved[i];
        }
        phi[words - 1] = change - sum;
        return phi;
    }

    /** Gaussian elimination with partial pivoting. */
    private static double[] solve(double[][] a, double[] b) {
        int n = b.length;
        for (int c = 0; c < n; c++) {
            int pivot = c;
            for (int r = c + 1; r < n; r++) {
                if (Math.abs(a[r][c]) > Math.abs(a[pivot][c])) {
                    pivot = r;
                }
            }
            double[] row = a[c];
            a[c] = a[pivot];
            a[pivot] = row;
            double t = b[c];
            b[c] = b[pivot];
            b[pivot] = t;
            for (int r = c + 1; r < n; r++) {
                double f = a[r][c] / a[c][c];
                for (int k = c; k < n; k++) {
                    a[r][k] -= f * a[c][k];
                }
                b[r] -= f * b[c];
            }
        }
        double[] x = new double[n];
        for (int r = n - 1; r >= 0; r--) {
            double s = b[r];
            for (int k = r + 1; k < n; k++) {
                s -= a[r][k] * x[k];
            }
            x[r] = s / a[r][r];
        }
        return x;
    }

    /**
     * The model's outputs for one row of token ids (with its mask and type ids), through the gradient
     * graph without its backward pass (the forward graph when the gradient graph emulates quantization
     * row by row, or there is none) on the version's instances: what faithfulness measures run on
     * texts with words removed.
     */
    public float[] forward(long[] ids, long[] mask, long[] types, InstanceScheduler scheduler) {
        Sample row = new Sample(ids, mask, types, null);
        float[] x = inputs(row)[0];
        // the gradient graph's forward outputs are the model's unless it emulates quantization row by row; no backward
        // pass when asked for logits alone, and no forward sessions opened beside it
        String method = gradient != null && !emulated ? GRAPH : BLACKBOX;
        return join(scheduler.submit(new InstanceJob<>(1, at -> logits(method, at, row, x, 1))));
    }

    /**
     * Where the pieces of {@code total} rows start, with {@code total} appended: with an internal
     * batch size, pieces of that many rows; else as few pieces as keep each within
     * {@link #PIECE_BUDGET} when they run the gradient graph ({@code backward}), at most
     * {@link #FORWARD_PIECE_TOKENS} padded tokens when they run forward only, rounded up to a multiple of the instances, and of
     * equal size within a row, so that every instance gets the same share.
     */
    int[] pieces(int total, int requestedBatch, int seq, boolean backward) {
        int count;
        int internalBatch = requestedBatch > 0 ? Math.min(requestedBatch, Math.max(1, MAX_PIECE_TOKENS / seq)) : 0;
        if (internalBatch > 0) {
            count = (total + internalBatch - 1) / internalBatch;
        } else {
            int maxRows = (int) Math.max(1, backward ? PIECE_BUDGET / ((long) seq * (seq + PIECE_SEQ_OFFSET)) : FORWARD_PIECE_TOKENS / seq);
            int k = layout.instances();
            count = (total + maxRows - 1) / maxRows;
            count = Math.min(total, (count + k - 1) / k * k);
        }
        int[] bounds = new int[count + 1];
        for (int i = 0; i < count; i++) {
            bounds[i + 1] = internalBatch > 0 ? Math.min(total, bounds[i] + internalBatch)
                    : bounds[i] + total / count + (i < total % count ? 1 : 0);
        }
        return bounds;
    }

    /**
     * Runs pieces through the scheduler, at most one per instance in flight, and hands each result
     * to {@code sink} in order on the calling thread. A piece is submitted only when one returns,
     * so predictions queued meanwhile go before the next piece.
     */
    private <R> void runPieces(int[] bounds, InstanceScheduler scheduler, PieceMaker<R> piece, PieceSink<R> sink) {
        Deque<CompletableFuture<R>> inFlight = new ArrayDeque<>();
        Deque<Integer> started = new ArrayDeque<>();
        try {
            for (int i = 0; i + 1 < bounds.length; i++) {
                if (inFlight.size() >= layout.instances()) {
                    int done = started.poll();
                    sink.accept(bounds[done], bounds[done + 1] - bounds[done], join(inFlight.poll()));
                }
                inFlight.add(scheduler.submit(piece.make(bounds[i], bounds[i + 1] - bounds[i])));
                started.add(i);
            }
            while (!inFlight.isEmpty()) {
                int done = started.poll();
                sink.accept(bounds[done], bounds[done + 1] - bounds[done], join(inFlight.poll()));
            }
        } finally {
            // an explanation that failed takes its queued pieces with it
            inFlight.forEach(f -> f.cancel(false));
        }
    }

    /** Makes the job of the piece of {@code rows} rows starting at row {@code from}. */
    @FunctionalInterface
    private interface PieceMaker<R> {
        InstanceJob<R> make(int from, int rows);
    }

    /** Receives a piece's result: its first row, its rows, and what it returned. */
    @FunctionalInterface
    private interface PieceSink<R> {
        void accept(int from, int rows, R result);
    }

    /** The value of a piece, or the exception it failed with (not wrapped). */
    private static <R> R join(CompletableFuture<R> future) {
        try {
            return future.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            if (e.getCause() instanceof Error err) {
                throw err;
            }
            throw e;
        }
    }

    private double[] graphScores(Sample sample, float[] x, float[] baseline, Objective target, Quadrature q, int[] pieces,
                                 InstanceScheduler scheduler) {
        int seq = sample.ids().length;
        int hidden = graph.hidden();
        int width = seq * hidden;
        double[] averaged = new double[width];
        runPieces(pieces, scheduler, (from, rows) -> {
            float[] points = new float[rows * width];
            for (int r = 0; r < rows; r++) {
                float alpha = (float) q.alphas()[from + r];
                for (int j = 0; j < width; j++) {
                    points[r * width + j] = baseline[j] + alpha * (x[j] - baseline[j]);
                }
            }
            return new InstanceJob<>(rows, at -> gradients(at, sample, points, rows, target));
        }, (from, rows, grads) -> {
            for (int r = 0; r < rows; r++) {
                double w = q.weights()[from + r];
                for (int j = 0; j < width; j++) {
                    averaged[j] += w * grads[r * width + j];
                }
            }
        });
        double[] scores = new double[seq];
        for (int i = 0; i < seq; i++) {
            double s = 0;
            for (int h = 0; h < hidden; h++) {
                int j = i * hidden + h;
                s += (x[j] - baseline[j]) * averaged[j];
            }
            scores[i] = s;
        }
        return scores;
    }

    /** Black-box scores, and how far apart the two step sizes they were extrapolated from came. */
    private record Estimate(double[] scores, double disagreement) {
    }

    /**
     * Scores from central differences along each token's (x - x') direction at two steps, h and
     * h/2, Richardson-extrapolated ((4 S(h/2) - S(h)) / 3, an error of order h^4 for a smooth model);
     * the relative distance between the two estimates says whether the model is smooth at this
     * scale at all (quantized models are not: their differences are steps, not slopes).
     */
    private List<Estimate> blackboxScores(Sample sample, float[] x, float[] baseline, List<Objective> targets, Quadrature q,
                                          int[] pieces, InstanceScheduler scheduler) {
        int seq = sample.ids().length;
        int hidden = graph.hidden();
        int width = seq * hidden;
        double h = FINITE_DIFFERENCE_STEP;
        // rows: for each point k and token i, the point moved by +h, -h, +h/2 and -h/2 along token i's (x - x') direction
        int n = targets.size();
        double[][] full = new double[n][seq];
        double[][] half = new double[n][seq];
        runPieces(pieces, scheduler, (from, rows) -> {
            float[] points = new float[rows * width];
            for (int r = 0; r < rows; r++) {
                int index = from + r;
                int k = index / (seq * BLACKBOX_ROWS);
                int token = (index / BLACKBOX_ROWS) % seq;
                double step = offset(index, h);
                double alpha = q.alphas()[k];
                int o = r * width;
                for (int j = 0; j < width; j++) {
                    points[o + j] = (float) (baseline[j] + alpha * (x[j] - baseline[j]));
                }
                for (int d = 0; d < hidden; d++) {
                    int j = token * hidden + d;
                    points[o + j] = (float) (baseline[j] + (alpha + step) * (x[j] - baseline[j]));
                }
            }
            return new InstanceJob<>(rows, at -> logits(BLACKBOX, at, sample, points, rows));
        }, (from, rows, logits) -> {
            int classes = logits.length / rows;
            for (int r = 0; r < rows; r++) {
                int index = from + r;
                int k = index / (seq * BLACKBOX_ROWS);
                int token = (index / BLACKBOX_ROWS) % seq;
                double step = offset(index, h);
                double[][] into = index % BLACKBOX_ROWS < 2 ? full : half;
                for (int t = 0; t < n; t++) {
                    into[t][token] += Math.signum(step) * q.weights()[k] * targets.get(t).value(logits, r * classes) / (2 * Math.abs(step));
                }
            }
        });
        List<Estimate> out = new ArrayList<>();
        for (int t = 0; t < n; t++) {
            double[] scores = new double[seq];
            double apart = 0;
            double size = 0;
            for (int i = 0; i < seq; i++) {
                scores[i] = (4 * half[t][i] - full[t][i]) / 3;
                apart += (full[t][i] - half[t][i]) * (full[t][i] - half[t][i]);
                size += half[t][i] * half[t][i];
            }
            out.add(new Estimate(scores, size == 0 ? 0 : Math.sqrt(apart / size)));
        }
        return out;
    }

    /** Rows per path point and token of the black-box method: steps +h, -h, +h/2, -h/2. */
    static final int BLACKBOX_ROWS = 4;

    private static double offset(int index, double h) {
        return switch (index % BLACKBOX_ROWS) {
            case 0 -> h;
            case 1 -> -h;
            case 2 -> h / 2;
            default -> -h / 2;
        };
    }

    /** Logits for rows of embeddings, on the instance {@code at}. */
    float[] logits(String method, Placement at, Sample sample, float[] embeds, int rows) {
        if (rowsAlone && rows > 1) {
            return eachRowAlone(embeds, rows, row -> logits(method, at, sample, row, 1));
        }
        if (method.equals(GRAPH)) {
            OnnxModel session = on(gradient, at);
            List<Tensor> feeds = feeds(session, sample, embeds, rows);
            feeds.add(targetFeed(tokenLabels, rows, sample.ids().length, Objective.ofClass(0)));
            feeds.add(backwardFeed(false));
            return session.run(feeds, List.of(output)).get(0).floats();
        }
        OnnxModel f = on(forwardSessions(), at);
        return f.run(feeds(f, sample, embeds, rows), List.of(output)).get(0).floats();
    }

    /** Runs each of {@code rows} rows of embeddings by itself, the results one after another. */
    private static float[] eachRowAlone(float[] embeds, int rows, java.util.function.Function<float[], float[]> run) {
        int width = embeds.length / rows;
        float[] out = null;
        for (int r = 0; r < rows; r++) {
            float[] one = run.apply(java.util.Arrays.copyOfRange(embeds, r * width, (r + 1) * width));
            if (out == null) {
                out = new float[one.length * rows];
            }
            System.arraycopy(one, 0, out, r * one.length, one.length);
        }
        return out;
    }

    /** Logits on the first instance (for tests). */
    float[] logits(String method, Sample sample, float[] embeds, int rows) {
        return logits(method, new Placement(0), sample, embeds, rows);
    }

    /** Gradients of the target logit at rows of embeddings, from the gradient graph on the instance {@code at}. */
    float[] gradients(Placement at, Sample sample, float[] embeds, int rows, Objective target) {
        if (tokenLabels == 0 && target.weighted()) {
            // a classifier's graph takes one class per row: a weighting of classes (a contrast) is the weighted sum of
            // each class's gradients
            float[] sum = null;
            for (int c = 0; c < target.weights().length; c++) {
                float w = target.weights()[c];
                if (w != 0) {
                    float[] g = gradients(at, sample, embeds, rows, Objective.ofClass(c));
                    if (sum == null) {
                        sum = new float[g.length];
                    }
                    for (int j = 0; j < g.length; j++) {
                        sum[j] += w * g[j];
                    }
                }
            }
            return sum != null ? sum : new float[embeds.length];
        }
        if (rowsAlone && !emulated && rows > 1) {
            return eachRowAlone(embeds, rows, row -> gradients(at, sample, row, 1, target));
        }
        OnnxModel session = on(gradient, at);
        List<Tensor> feeds = feeds(session, sample, embeds, rows);
        feeds.add(targetFeed(tokenLabels, rows, sample.ids().length, target));
        feeds.add(backwardFeed(true));
        return session.run(feeds, List.of(GradientBuilder.gradName(EmbeddingGraph.INPUTS_EMBEDS))).get(0).floats();
    }

    /** Gradients on the first instance (for tests and benchmarks). */
    float[] gradients(Sample sample, float[] embeds, int rows, int target) {
        return gradients(new Placement(0), sample, embeds, rows, Objective.ofClass(target));
    }

    /** Gradients of an objective on the first instance (for tests). */
    float[] gradients(Sample sample, float[] embeds, int rows, Objective target) {
        return gradients(new Placement(0), sample, embeds, rows, target);
    }

    /** The session of an instance; pieces never run on the solo placement, but would use instance 0. */
    private static OnnxModel on(ModelInstances sessions, Placement at) {
        return sessions.instance(Math.max(0, at.instance()) % sessions.count());
    }

    private List<Tensor> feeds(OnnxModel session, Sample sample, float[] embeds, int rows) {
        int seq = sample.ids().length;
        long[] shape = {rows, seq};
        List<Tensor> feeds = new ArrayList<>();
        feeds.add(Tensor.ofFloats(EmbeddingGraph.INPUTS_EMBEDS, new long[] {rows, seq, graph.hidden()}, embeds));
        for (TensorMetadata in : session.inputs()) {
            long[] row = switch (in.name()) {
                case "attention_mask" -> sample.mask();
                case "token_type_ids" -> sample.types();
                case EmbeddingGraph.INPUT_IDS -> sample.ids();
                default -> null;
            };
            if (row != null) {
                long[] repeated = new long[rows * seq];
                for (int r = 0; r < rows; r++) {
                    System.arraycopy(row, 0, repeated, r * seq, seq);
                }
                feeds.add(in.datatype() == dev.igate.protocol.Datatype.INT32 ? OnnxModel.int32(in.name(), shape, repeated)
                        : Tensor.ofLongs(in.name(), shape, repeated));
            }
        }
        return feeds;
    }

    private ModelInstances forwardSessions() {
        ModelInstances f = forward;
        if (f == null) {
            synchronized (this) {
                f = forward;
                if (f == null) {
                    try {
                        // the graph cut out again from the (pinned) file: prepare kept no copy of it
                        ModelProto graph = EmbeddingGraph.of(FusedOperators.decompose(OnnxProtos.read(modelFile)), tables).model();
                        String description = "forward graph of " + modelFile.getFileName();
                        f = OnnxModel.throughFile(graph, description,
                                file -> ModelInstances.open(layout, settings, s -> OnnxModel.load(file, s, description)));
                    } catch (ModelLoadException | IOException | GradientUnavailableException e) {
                        throw new IllegalStateException("forward graph could not be loaded: " + e.getMessage(), e);
                    }
                    forward = f;
                }
            }
        }
        return f;
    }

    @Override
    public void close() {
        if (gradient != null) {
            gradient.close();
        }
        if (forward != null) {
            forward.close();
        }
    }
}
