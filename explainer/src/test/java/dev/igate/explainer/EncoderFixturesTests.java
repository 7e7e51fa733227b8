package dev.igate.explainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import ai.onnx.proto.OnnxMl.ModelProto;
import dev.igate.demo.TinyEncoder;
import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.SessionSettings;
import dev.igate.protocol.Tensor;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The explainer on small encoders of each export style and opset ({@link TinyEncoder}), unfused and
 * with ONNX Runtime's fused transformer operators: gradients against finite differences of the
 * forward model (an independent reference), the black-box method against the gradient graph, and the
 * fused model's predictions and importances against its unfused twin's.
 */
class EncoderFixturesTests {

    static final SessionSettings CPU = new SessionSettings("cpu", 0, 1, "all");
    static final long SEED = 5;
    static final long[] IDS = {101, 2023, 2003, 1037, 2460, 3231, 6251, 2055, 2308, 1012, 102};

    @TempDir
    Path dir;

    static List<Arguments> fixtures() {
        List<Arguments> out = new ArrayList<>();
        for (TinyEncoder.Style style : TinyEncoder.Style.values()) {
            for (int opset : new int[] {11, 14, 17, 18}) {
                out.add(Arguments.of(style, opset));
            }
        }
        return out;
    }

    static List<Arguments> fusedFixtures() {
        List<Arguments> out = new ArrayList<>();
        for (TinyEncoder.Style style : TinyEncoder.Style.values()) {
            for (int opset : new int[] {14, 17}) {
                out.add(Arguments.of(style, opset));
            }
        }
        return out;
    }

    static IntegratedGradients.Sample sample(TinyEncoder.Style style) {
        long[] baseline = IDS.clone();
        for (int i = 1; i < baseline.length - 1; i++) {
            baseline[i] = 0;
        }
        long[] mask = new long[IDS.length];
        java.util.Arrays.fill(mask, 1);
        return new IntegratedGradients.Sample(IDS, mask, new long[IDS.length], baseline);
    }

    IntegratedGradients prepare(ModelProto model, String name) throws Exception {
        Path file = dir.resolve(name + ".onnx");
        Files.write(file, model.toByteArray());
        return IntegratedGradients.prepare(file, "logits", CPU);
    }

    static Attribution explain(IntegratedGradients ig, IntegratedGradients.Sample s, String method, int target) {
        return ig.attribute(s, target, Quadrature.of(Quadrature.GAUSS_LEGENDRE, 32), method, 0);
    }

    @ParameterizedTest(name = "{0} opset {1}")
    @MethodSource("fixtures")
    void gradientGraphMatchesFiniteDifferencesAndTheBlackBoxAgrees(TinyEncoder.Style style, int opset) throws Exception {
        try (IntegratedGradients ig = prepare(TinyEncoder.model(style, opset, SEED), style + "-" + opset)) {
            IntegratedGradients.Sample s = sample(style);
            assertThat(ig.hasGradientGraph()).as(ig.gradientUnavailableReason()).isTrue();
            // every operator ONNX Runtime's optimizer fuses in has a rule: no fallback to the graph as written
            assertThat(ig.differentiatedGraph()).isEqualTo("optimized");
            GradientCheck.checkAgainstFiniteDifferences(ig, s);

            Attribution graph = explain(ig, s, IntegratedGradients.GRAPH, -1);
            Attribution blackbox = explain(ig, s, IntegratedGradients.BLACKBOX, graph.target());
            assertThat(DemoModelExplainerIT.cosine(graph.scores(), blackbox.scores())).isGreaterThanOrEqualTo(0.98);
        }
    }

    @ParameterizedTest(name = "{0} opset {1}")
    @MethodSource("fusedFixtures")
    void fusedOperatorsPredictAndExplainAsTheirUnfusedTwin(TinyEncoder.Style style, int opset) throws Exception {
        ModelProto plain = TinyEncoder.model(style, opset, SEED);
        ModelProto fused = TinyEncoder.fused(style, opset, SEED);
        assertThat(fused.getGraph().getNodeList()).anyMatch(n -> n.getOpType().equals("Attention"))
                .anyMatch(n -> n.getOpType().equals("EmbedLayerNormalization"));

        // predictions: ONNX Runtime's fused kernels against the unfused operators, a padded row included
        float[] a = run(plain, style);
        float[] b = run(fused, style);
        // and the explainer's decomposition of the fused operators against ONNX Runtime's kernels
        float[] c = run(FusedOperators.decompose(fused), style);
        for (int i = 0; i < a.length; i++) {
            assertThat(b[i]).as("fused logit %d", i).isCloseTo(a[i], within(1e-4f));
            assertThat(c[i]).as("decomposed logit %d", i).isCloseTo(b[i], within(1e-4f));
        }
        try (IntegratedGradients unfused = prepare(plain, "plain"); IntegratedGradients decomposed = prepare(fused, "fused")) {
            IntegratedGradients.Sample s = sample(style);
            assertThat(decomposed.hasGradientGraph()).as(decomposed.gradientUnavailableReason()).isTrue();
            assertThat(decomposed.differentiatedGraph()).isEqualTo("optimized");
            Attribution x = explain(unfused, s, IntegratedGradients.GRAPH, -1);
            Attribution y = explain(decomposed, s, IntegratedGradients.GRAPH, x.target());

            // the decomposition computes what the fused kernels compute, and explains as the unfused model
            assertThat(y.logits()).containsExactly(x.logits(), org.assertj.core.data.Offset.offset(1e-4f));
            assertThat(DemoModelExplainerIT.cosine(x.scores(), y.scores())).isGreaterThanOrEqualTo(0.999);
        }
    }

    @org.junit.jupiter.api.Test
    void theBlackBoxStepsAgreeOnAFloatModelAndSayWhenTheyDoNotOnAQuantizedOne() throws Exception {
        ModelProto plain = TinyEncoder.model(TinyEncoder.Style.BERT, 17, SEED);
        try (IntegratedGradients smooth = prepare(plain, "float");
             IntegratedGradients stepped = prepare(dev.igate.demo.DynamicQuantizer.quantize(plain), "int8")) {
            IntegratedGradients.Sample s = sample(TinyEncoder.Style.BERT);
            Attribution a = explain(smooth, s, IntegratedGradients.BLACKBOX, -1);
            Attribution b = explain(stepped, s, IntegratedGradients.BLACKBOX, a.target());
            System.out.printf("black-box step disagreement: float %.4f, int8 %.4f%n", a.stepDisagreement(), b.stepDisagreement());

            assertThat(a.stepDisagreement()).isLessThan(0.01);
            assertThat(b.stepDisagreement()).isGreaterThan(0.05);
            assertThat(explain(smooth, s, IntegratedGradients.GRAPH, -1).stepDisagreement()).isNaN();
        }
    }

    /** Logits of a batch of two: the ids, and the ids right-padded after their first half. */
    float[] run(ModelProto model, TinyEncoder.Style style) throws Exception {
        int n = IDS.length;
        long[] ids = new long[2 * n];
        long[] mask = new long[2 * n];
        for (int i = 0; i < n; i++) {
            ids[i] = IDS[i];
            mask[i] = 1;
            ids[n + i] = i < n / 2 ? IDS[i] : 0;
            mask[n + i] = i < n / 2 ? 1 : 0;
        }
        long[] shape = {2, n};
        List<Tensor> feeds = new ArrayList<>(List.of(Tensor.ofLongs("input_ids", shape, ids), Tensor.ofLongs("attention_mask", shape, mask)));
        if (style == TinyEncoder.Style.BERT) {
            feeds.add(Tensor.ofLongs("token_type_ids", shape, new long[2 * n]));
        }
        try (OnnxModel session = OnnxModel.load(model.toByteArray(), CPU, "fixture")) {
            return session.run(feeds, List.of("logits")).get(0).floats();
        }
    }
}
