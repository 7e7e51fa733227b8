package dev.igate.explainer;

import static dev.igate.predictor.onnx.OnnxProtos.tensorValue;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.SessionSettings;
import dev.igate.protocol.Tensor;

/**
 * Builds a one-node (or few-node) ONNX model, differentiates it with {@link GradientBuilder}, and
 * compares the gradient graph's output with a central finite difference of
 * {@code f(x) = Σ seed ⊙ out(x)} computed from forward runs.
 *
 * <p>Float32 tolerance: |analytic − numeric| ≤ 2e-3 + 1e-2 · |numeric| per element, with step
 * h = 1e-2 (float32 rounding of f is about 1e-6, so the difference quotient is good to about
 * 1e-4; the h² truncation term is of the same order for these smooth inputs).
 */
final class GradientCheck {

    static final double H = 1e-2;
    static final double ABS = 2e-3;
    static final double REL = 1e-2;
    static final SessionSettings CPU = new SessionSettings("cpu", 1, 1, "all");

    enum Values { SIGNED, POSITIVE, AWAY_FROM_ZERO }

    record Input(String name, long[] shape, Values values) {
    }

    private final int opset;
    private final GraphProto.Builder graph = GraphProto.newBuilder().setName("check");
    private final List<Input> inputs = new ArrayList<>();
    private final Random random = new Random(7);
    private String output = "out";

    GradientCheck(int opset) {
        this.opset = opset;
    }

    GradientCheck input(String name, Values values, long... shape) {
        inputs.add(new Input(name, shape, values));
        graph.addInput(tensorValue(name, TensorProto.DataType.FLOAT, box(shape)));
        return this;
    }

    GradientCheck input(String name, long... shape) {
        return input(name, Values.SIGNED, shape);
    }

    GradientCheck initializer(TensorProto t) {
        graph.addInitializer(t);
        return this;
    }

    /** A node as given (several outputs, another domain); {@code out} is the checked output. */
    GradientCheck node(NodeProto node, String out) {
        graph.addNode(node);
        output = out;
        return this;
    }

    GradientCheck node(String op, List<String> in, String out, AttributeProto... attributes) {
        graph.addNode(NodeProto.newBuilder().setOpType(op).setName(op + "_" + out).addAllInput(in).addOutput(out)
                .addAllAttribute(List.of(attributes)));
        output = out;
        return this;
    }

    /**
     * This model quantized by {@link dev.igate.predictor.onnx.Int8Quantizer} (the same inputs, drawn
     * from the same random sequence), to check its gradient against this one's.
     */
    GradientCheck quantized(dev.igate.predictor.onnx.Int8Quantizer.Options options) {
        ModelProto int8 = dev.igate.predictor.onnx.Int8Quantizer.quantize(forwardModel(), options);
        GradientCheck out = new GradientCheck(GradientBuilder.opset(int8));
        out.inputs.addAll(inputs);
        out.graph.mergeFrom(int8.getGraph()).clearOutput();
        out.output = output;
        return out;
    }

    private static Object[] box(long[] shape) {
        Object[] o = new Object[shape.length];
        for (int i = 0; i < shape.length; i++) {
            o[i] = shape[i];
        }
        return o;
    }

    private ModelProto model(GraphProto.Builder g) {
        return ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset))
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1))
                .setGraph(g).build();
    }

    private float[] sample(Input in) {
        int n = (int) Tensor.elementCount(in.shape());
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            double u = random.nextDouble() * 2 - 1;
            v[i] = (float) switch (in.values()) {
                case SIGNED -> u;
                case POSITIVE -> 0.5 + Math.abs(u);
                case AWAY_FROM_ZERO -> Math.signum(u) * (0.2 + Math.abs(u));
            };
        }
        return v;
    }

    /** Checks d(Σ seed ⊙ out) / d{wrt} against finite differences. */
    void check(String wrt) throws Exception {
        Map<String, float[]> values = sampleInputs();
        ModelProto forward = forwardModel();
        try (OnnxModel f = OnnxModel.load(forward.toByteArray(), CPU, "forward")) {
            Tensor seedTensor = sampleSeed(f, values);
            float[] seed = seedTensor.floats();
            float[] analytic = gradient(forward, wrt, values, seedTensor);
            float[] x = values.get(wrt);
            assertThat(analytic).hasSameSizeAs(x);
            for (int i = 0; i < x.length; i++) {
                float saved = x[i];
                x[i] = (float) (saved + H);
                double plus = dot(seed, f.run(feeds(values), List.of(output)).get(0).floats());
                x[i] = (float) (saved - H);
                double minus = dot(seed, f.run(feeds(values), List.of(output)).get(0).floats());
                x[i] = saved;
                double numeric = (plus - minus) / (2 * H);
                assertThat(Math.abs(analytic[i] - numeric))
                        .as("d/d%s[%d]: analytic %s vs numeric %s", wrt, i, analytic[i], numeric)
                        .isLessThanOrEqualTo(ABS + REL * Math.abs(numeric));
            }
        }
    }

    /**
     * Checks {@link GradientBuilder#buildGated}: the gated graph fed true answers the ungated
     * graph's output and gradient, bit for bit; fed false, the same output and an empty gradient
     * (its backward nodes, all behind at least {@code segments} Ifs, did not run).
     */
    void checkGated(String wrt, int segments) throws Exception {
        Map<String, float[]> values = sampleInputs();
        ModelProto forward = forwardModel();
        List<Tensor> feeds = feeds(values);
        Map<String, long[]> shapes = ShapeProbe.shapes(forward, GradientBuilder.activePath(forward.getGraph(), wrt, output).probed(), feeds);
        ModelProto gradient = GradientBuilder.build(forward, wrt, output, "seed", shapes);
        ModelProto gated = GradientBuilder.buildGated(forward, wrt, output, "seed", null, shapes, "backward");
        assertThat(gated.getGraph().getNodeList().subList(0, forward.getGraph().getNodeCount())).isEqualTo(forward.getGraph().getNodeList());
        assertThat(gated.getGraph().getNodeList().subList(forward.getGraph().getNodeCount(), gated.getGraph().getNodeCount()))
                .hasSizeGreaterThanOrEqualTo(segments).allMatch(n -> n.getOpType().equals("If") && n.getOutputCount() > 0);
        String grad = GradientBuilder.gradName(wrt);
        try (OnnxModel f = OnnxModel.load(forward.toByteArray(), CPU, "forward");
             OnnxModel plain = OnnxModel.load(gradient.toByteArray(), CPU, "gradient");
             OnnxModel gm = OnnxModel.load(gated.toByteArray(), CPU, "gated gradient")) {
            Tensor seed = sampleSeed(f, values);
            float[] expectedOut = f.run(feeds, List.of(output)).get(0).floats();
            List<Tensor> gradFeeds = new ArrayList<>(feeds);
            gradFeeds.add(seed);
            List<Tensor> expected = plain.run(gradFeeds, List.of(output, grad));
            for (boolean on : new boolean[] {true, false}) {
                List<Tensor> gatedFeeds = new ArrayList<>(gradFeeds);
                gatedFeeds.add(new Tensor("backward", dev.igate.protocol.Datatype.BOOL, new long[] {1}, new boolean[] {on}));
                List<Tensor> got = gm.run(gatedFeeds, List.of(output, grad));
                assertThat(got.get(0).floats()).as("output, backward %s", on).containsExactly(expectedOut);
                if (on) {
                    assertThat(got.get(1).floats()).as("gradient").containsExactly(expected.get(1).floats());
                    assertThat(got.get(1).shape()).isEqualTo(expected.get(1).shape());
                } else {
                    assertThat(got.get(1).size()).as("gradient without the backward pass").isZero();
                }
            }
        }
    }

    /**
     * Checks the gradient graph of this model against another's at the same inputs and seed (both
     * drawn from the same random sequence, so the two must declare the same inputs): for
     * straight-through rules, whose reference is a float graph with quantization taken as the identity.
     */
    void checkAgainst(GradientCheck reference, String wrt) throws Exception {
        float[] mine = gradient(wrt);
        float[] theirs = reference.gradient(wrt);
        assertThat(mine).hasSameSizeAs(theirs);
        for (int i = 0; i < mine.length; i++) {
            assertThat((double) Math.abs(mine[i] - theirs[i])).as("d/d%s[%d]: %s vs reference %s", wrt, i, mine[i], theirs[i])
                    .isLessThanOrEqualTo(1e-4 + 1e-4 * Math.abs(theirs[i]));
        }
    }

    /** The gradient graph's d(Σ seed ⊙ out) / d{wrt} at inputs and a seed drawn afresh from the fixed random sequence. */
    private float[] gradient(String wrt) throws Exception {
        random.setSeed(7);
        Map<String, float[]> values = sampleInputs();
        ModelProto forward = forwardModel();
        try (OnnxModel f = OnnxModel.load(forward.toByteArray(), CPU, "forward")) {
            return gradient(forward, wrt, values, sampleSeed(f, values));
        }
    }

    /** The gradient graph's d(Σ seed ⊙ out) / d{wrt} at the given inputs and seed. */
    private float[] gradient(ModelProto forward, String wrt, Map<String, float[]> values, Tensor seed) throws Exception {
        List<Tensor> feeds = feeds(values);
        Map<String, long[]> shapes = ShapeProbe.shapes(forward,
                GradientBuilder.activePath(forward.getGraph(), wrt, output).probed(), feeds);
        ModelProto gradient = GradientBuilder.build(forward, wrt, output, "seed", shapes);
        try (OnnxModel gm = OnnxModel.load(gradient.toByteArray(), CPU, "gradient")) {
            List<Tensor> gradFeeds = new ArrayList<>(feeds);
            gradFeeds.add(seed);
            return gm.run(gradFeeds, List.of(GradientBuilder.gradName(wrt))).get(0).floats();
        }
    }

    private Map<String, float[]> sampleInputs() {
        Map<String, float[]> values = new LinkedHashMap<>();
        for (Input in : inputs) {
            values.put(in.name(), sample(in));
        }
        return values;
    }

    /** The forward model, with the checked output declared. */
    private ModelProto forwardModel() {
        GraphProto.Builder forwardGraph = graph.clone();
        forwardGraph.addOutput(tensorValue(output, TensorProto.DataType.FLOAT));
        return model(forwardGraph);
    }

    /** A random seed of the output's shape, drawn after the inputs. */
    private Tensor sampleSeed(OnnxModel f, Map<String, float[]> values) {
        Tensor out = f.run(feeds(values), List.of(output)).get(0);
        float[] seed = new float[out.size()];
        for (int i = 0; i < seed.length; i++) {
            seed[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return Tensor.ofFloats("seed", out.shape(), seed);
    }

    private List<Tensor> feeds(Map<String, float[]> values) {
        List<Tensor> feeds = new ArrayList<>();
        for (Input in : inputs) {
            feeds.add(Tensor.ofFloats(in.name(), in.shape(), values.get(in.name()).clone()));
        }
        return feeds;
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += (double) a[i] * b[i];
        }
        return s;
    }

    /** The gradient graph's directional derivative along each token's (x - x') against central differences of the forward model. */
    static void checkAgainstFiniteDifferences(IntegratedGradients ig, IntegratedGradients.Sample s) {
        checkAgainstFiniteDifferences(ig, s, H);
    }

    /**
     * As {@link #checkAgainstFiniteDifferences(IntegratedGradients, IntegratedGradients.Sample)} with
     * step {@code h}: a more curved head (products of normalised vectors) needs a smaller step for
     * the central difference's own error to stay below the tolerance.
     */
    static void checkAgainstFiniteDifferences(IntegratedGradients ig, IntegratedGradients.Sample s, double h) {
        checkAgainstFiniteDifferences(ig, s, h, Objective.ofClass(0));
    }

    /** As above, for any objective: a class logit, or a weighting of a per-token model's outputs (an entity). */
    static void checkAgainstFiniteDifferences(IntegratedGradients ig, IntegratedGradients.Sample s, double h, Objective objective) {
        int seq = s.ids().length;
        int hidden = ig.embeddings().hidden();
        float[] x = new float[seq * hidden];
        ig.embeddings().lookup(s.ids(), x, 0);
        float[] baseline = new float[seq * hidden];
        ig.embeddings().lookup(s.baselineIds(), baseline, 0);
        float[] point = new float[x.length];
        for (int j = 0; j < x.length; j++) {
            point[j] = baseline[j] + 0.5f * (x[j] - baseline[j]);
        }
        float[] grad = ig.gradients(s, point, 1, objective);
        for (int token = 1; token < seq - 1; token++) {
            float[] both = new float[2 * x.length];
            System.arraycopy(point, 0, both, 0, x.length);
            System.arraycopy(point, 0, both, x.length, x.length);
            double analytic = 0;
            for (int d = 0; d < hidden; d++) {
                int j = token * hidden + d;
                double direction = x[j] - baseline[j];
                analytic += grad[j] * direction;
                both[j] += (float) (h * direction);
                both[x.length + j] -= (float) (h * direction);
            }
            float[] logits = ig.logits(IntegratedGradients.BLACKBOX, s, both, 2);
            int classes = logits.length / 2;
            double numeric = (objective.value(logits, 0) - objective.value(logits, classes)) / (2 * h);
            assertThat(Math.abs(analytic - numeric)).as("token %d: analytic %s vs numeric %s", token, analytic, numeric)
                    .isLessThanOrEqualTo(2e-3 + 1e-2 * Math.abs(numeric));
        }
    }
}
