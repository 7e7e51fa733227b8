package dev.igate.explainer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.igate.predictor.ModelLoadException;
import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.SessionSettings;
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
 */
public final class IntegratedGradients implements AutoCloseable {

    public static final String GRAPH = "graph";
    public static final String BLACKBOX = "blackbox";
    public static final String TARGETS = "targets";
    /** Step of the central differences, along the token's (x − x′) direction. */
    static final double FINITE_DIFFERENCE_STEP = 1e-2;

    private static final Logger log = LoggerFactory.getLogger(IntegratedGradients.class);

    private final EmbeddingGraph graph;
    private final String output;
    private final Path modelFile;
    private final SessionSettings settings;
    private final OnnxModel gradient;
    private final String gradientUnavailable;
    private volatile OnnxModel forward;

    private IntegratedGradients(EmbeddingGraph graph, String output, Path modelFile, SessionSettings settings,
                                OnnxModel gradient, String gradientUnavailable) {
        this.graph = graph;
        this.output = output;
        this.modelFile = modelFile;
        this.settings = settings;
        this.gradient = gradient;
        this.gradientUnavailable = gradientUnavailable;
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
        long start = System.nanoTime();
        ModelProto model;
        try (InputStream in = Files.newInputStream(modelFile)) {
            model = OnnxProtos.parse(in);
        }
        EmbeddingGraph graph = EmbeddingGraph.of(model);
        OnnxModel gradient = null;
        String unavailable = null;
        try {
            GradientBuilder.Path path = GradientBuilder.activePath(graph.model().getGraph(), EmbeddingGraph.INPUTS_EMBEDS, output);
            var shapes = ShapeProbe.shapes(graph.model(), path.probed(), sampleInputs(graph));
            ModelProto gm = GradientBuilder.buildForTargets(graph.model(), EmbeddingGraph.INPUTS_EMBEDS, output, TARGETS, shapes);
            gradient = OnnxModel.load(gm.toByteArray(), settings, "gradient graph of " + modelFile.getFileName());
        } catch (GradientUnavailableException e) {
            unavailable = e.getMessage();
            log.info("{}: gradient graph unavailable ({}); explanations use the black-box method", modelFile, unavailable);
        }
        log.info("Integrated gradients ready for {} in {} ms ({})", modelFile.getParent().getParent().getFileName() + "/" + modelFile.getParent().getFileName(),
                (System.nanoTime() - start) / 1_000_000, gradient != null ? "gradient graph" : "black-box only");
        return new IntegratedGradients(graph, output, modelFile, settings, gradient, unavailable);
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
            } else if (type == ai.onnx.proto.OnnxMl.TensorProto.DataType.INT64_VALUE) {
                long[] v = new long[n];
                java.util.Arrays.fill(v, name.equals("attention_mask") ? 1 : name.equals(EmbeddingGraph.INPUT_IDS) ? 1000 % graph.vocab() : 0);
                feeds.add(Tensor.ofLongs(name, shape, v));
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
        String method = gradients == null ? (gradient != null ? GRAPH : BLACKBOX) : gradients;
        if (method.equals(GRAPH) && gradient == null) {
            throw new IllegalStateException("gradient graph unavailable: " + gradientUnavailable);
        }
        int seq = sample.ids().length;
        int hidden = graph.hidden();
        int width = seq * hidden;
        float[] x = new float[width];
        graph.lookup(sample.ids(), x, 0);
        float[] baseline = new float[width];
        if (sample.baselineIds() != null) {
            graph.lookup(sample.baselineIds(), baseline, 0);
        }
        int rowsPerRun = internalBatch > 0 ? internalBatch : Math.max(1, 4096 / seq);

        float[] ends = new float[2 * width];
        System.arraycopy(x, 0, ends, 0, width);
        System.arraycopy(baseline, 0, ends, width, width);
        float[] endLogits = logits(method, sample, ends, 2);
        int classes = endLogits.length / 2;
        float[] fx = java.util.Arrays.copyOfRange(endLogits, 0, classes);
        float[] fb = java.util.Arrays.copyOfRange(endLogits, classes, 2 * classes);
        int t = target >= 0 ? target : LabelDecoder.argmax(fx);
        if (t >= classes) {
            throw new IllegalArgumentException("target " + t + " is not below the " + classes + " classes");
        }
        double[] scores;
        long rows;
        if (method.equals(GRAPH)) {
            scores = graphScores(sample, x, baseline, t, quadrature, rowsPerRun);
            rows = quadrature.alphas().length + 2L;
        } else {
            scores = blackboxScores(sample, x, baseline, t, quadrature, rowsPerRun);
            rows = 2L * quadrature.alphas().length * seq + 2;
        }
        double sum = 0;
        for (double s : scores) {
            sum += s;
        }
        double delta = sum - (fx[t] - fb[t]);
        return new Attribution(scores, delta, t, fx, fb, method, quadrature.alphas().length, rows);
    }

    private double[] graphScores(Sample sample, float[] x, float[] baseline, int target, Quadrature q, int rowsPerRun) {
        int seq = sample.ids().length;
        int hidden = graph.hidden();
        int width = seq * hidden;
        double[] averaged = new double[width];
        int steps = q.alphas().length;
        for (int from = 0; from < steps; from += rowsPerRun) {
            int rows = Math.min(rowsPerRun, steps - from);
            float[] points = new float[rows * width];
            for (int r = 0; r < rows; r++) {
                float alpha = (float) q.alphas()[from + r];
                for (int j = 0; j < width; j++) {
                    points[r * width + j] = baseline[j] + alpha * (x[j] - baseline[j]);
                }
            }
            long[] targets = new long[rows];
            java.util.Arrays.fill(targets, target);
            List<Tensor> feeds = feeds(gradient, sample, points, rows);
            feeds.add(Tensor.ofLongs(TARGETS, new long[] {rows}, targets));
            float[] grads = gradient.run(feeds, List.of(GradientBuilder.gradName(EmbeddingGraph.INPUTS_EMBEDS))).get(0).floats();
            for (int r = 0; r < rows; r++) {
                double w = q.weights()[from + r];
                for (int j = 0; j < width; j++) {
                    averaged[j] += w * grads[r * width + j];
                }
            }
        }
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

    private double[] blackboxScores(Sample sample, float[] x, float[] baseline, int target, Quadrature q, int rowsPerRun) {
        int seq = sample.ids().length;
        int hidden = graph.hidden();
        int width = seq * hidden;
        int steps = q.alphas().length;
        double h = FINITE_DIFFERENCE_STEP;
        // rows: for each step k and token i, the point moved by +h and -h along token i's (x - x') direction
        int total = steps * seq * 2;
        double[] scores = new double[seq];
        for (int from = 0; from < total; from += rowsPerRun) {
            int rows = Math.min(rowsPerRun, total - from);
            float[] points = new float[rows * width];
            for (int r = 0; r < rows; r++) {
                int index = from + r;
                int k = index / (seq * 2);
                int token = (index / 2) % seq;
                double sign = index % 2 == 0 ? 1 : -1;
                double alpha = q.alphas()[k];
                int o = r * width;
                for (int j = 0; j < width; j++) {
                    points[o + j] = (float) (baseline[j] + alpha * (x[j] - baseline[j]));
                }
                for (int d = 0; d < hidden; d++) {
                    int j = token * hidden + d;
                    points[o + j] = (float) (baseline[j] + (alpha + sign * h) * (x[j] - baseline[j]));
                }
            }
            float[] logits = logits(BLACKBOX, sample, points, rows);
            int classes = logits.length / rows;
            for (int r = 0; r < rows; r++) {
                int index = from + r;
                int k = index / (seq * 2);
                int token = (index / 2) % seq;
                double sign = index % 2 == 0 ? 1 : -1;
                scores[token] += sign * q.weights()[k] * logits[r * classes + target] / (2 * h);
            }
        }
        return scores;
    }

    /** Logits for rows of embeddings. */
    float[] logits(String method, Sample sample, float[] embeds, int rows) {
        if (method.equals(GRAPH)) {
            List<Tensor> feeds = feeds(gradient, sample, embeds, rows);
            feeds.add(Tensor.ofLongs(TARGETS, new long[] {rows}, new long[rows]));
            return gradient.run(feeds, List.of(output)).get(0).floats();
        }
        OnnxModel f = forwardSession();
        return f.run(feeds(f, sample, embeds, rows), List.of(output)).get(0).floats();
    }

    /** Gradients of the target logit at rows of embeddings, from the gradient graph (for tests and benchmarks). */
    float[] gradients(Sample sample, float[] embeds, int rows, int target) {
        List<Tensor> feeds = feeds(gradient, sample, embeds, rows);
        long[] targets = new long[rows];
        java.util.Arrays.fill(targets, target);
        feeds.add(Tensor.ofLongs(TARGETS, new long[] {rows}, targets));
        return gradient.run(feeds, List.of(GradientBuilder.gradName(EmbeddingGraph.INPUTS_EMBEDS))).get(0).floats();
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
                feeds.add(Tensor.ofLongs(in.name(), shape, repeated));
            }
        }
        return feeds;
    }

    private OnnxModel forwardSession() {
        OnnxModel f = forward;
        if (f == null) {
            synchronized (this) {
                f = forward;
                if (f == null) {
                    try {
                        f = OnnxModel.load(graph.model().toByteArray(), settings, "forward graph of " + modelFile.getFileName());
                    } catch (ModelLoadException e) {
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
