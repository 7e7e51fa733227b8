package dev.igate.explainer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;

import dev.igate.demo.DemoRepository;
import dev.igate.predictor.SessionSettings;
import dev.igate.transformer.TextEncoder;
import dev.igate.transformer.TokenBatch;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Integrated gradients on the demo model (version 1), built into target/test-models. */
class DemoModelExplainerIT {

    static final String SEED = "Risk assessment implications of site-specific oral relative bioavailability.";
    static IntegratedGradients ig;
    static IntegratedGradients.Sample sample;

    @BeforeAll
    static void prepare() throws Exception {
        Path root = Path.of("target", "test-models").toAbsolutePath();
        DemoRepository.ensure(root);
        Path dir = root.resolve(DemoRepository.MODEL_NAME).resolve("1");
        ig = IntegratedGradients.prepare(dir.resolve("model.onnx"), "logits", new SessionSettings("cpu", 0, 1, "all"));
        try (TextEncoder encoder = TextEncoder.load(dir.resolve("tokenizer.json"), 128)) {
            TokenBatch batch = encoder.encode(List.of(SEED));
            long[] ids = batch.ids(0);
            long[] baseline = ids.clone();
            for (int i = 1; i < baseline.length - 1; i++) {
                baseline[i] = 0;
            }
            sample = new IntegratedGradients.Sample(ids, batch.attentionMask().clone(), batch.typeIds().clone(), baseline);
        }
    }

    @AfterAll
    static void close() {
        ig.close();
    }

    static Attribution gaussLegendre(int steps, String gradients) {
        return ig.attribute(sample, -1, Quadrature.of(Quadrature.GAUSS_LEGENDRE, steps), gradients, 0);
    }

    static double cosine(double[] a, double[] b) {
        double dot = 0;
        double na = 0;
        double nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += a[i] * b[i];
            na += a[i] * a[i];
            nb += b[i] * b[i];
        }
        return dot / Math.sqrt(na * nb);
    }

    @Test
    void gradientGraphMatchesFiniteDifferencesOfTheModel() {
        GradientCheck.checkAgainstFiniteDifferences(ig, sample);
    }

    @Test
    void deltaIsUnderFivePercentAtFiftyStepsAndShrinksAsStepsGrow() {
        Attribution five = gaussLegendre(5, IntegratedGradients.GRAPH);
        Attribution ten = gaussLegendre(10, IntegratedGradients.GRAPH);
        Attribution fifty = gaussLegendre(50, IntegratedGradients.GRAPH);
        double gap = Math.abs(fifty.logits()[fifty.target()] - fifty.baselineLogits()[fifty.target()]);

        assertThat(Math.abs(fifty.delta())).isLessThan(0.05 * gap);
        assertThat(Math.abs(ten.delta())).isLessThan(Math.abs(five.delta()));
        assertThat(Math.abs(fifty.delta())).isLessThan(Math.abs(ten.delta()));
        Attribution trapezoid = ig.attribute(sample, -1, Quadrature.of(Quadrature.RIEMANN_TRAPEZOID, 50), IntegratedGradients.GRAPH, 0);
        assertThat(Math.abs(trapezoid.delta())).isLessThan(0.05 * gap);
    }

    @Test
    void gradientGraphAndBlackBoxAgree() {
        Attribution graph = gaussLegendre(50, IntegratedGradients.GRAPH);
        Attribution blackbox = gaussLegendre(50, IntegratedGradients.BLACKBOX);

        assertThat(blackbox.gradients()).isEqualTo("blackbox");
        assertThat(cosine(graph.scores(), blackbox.scores())).isGreaterThanOrEqualTo(0.99);
    }

    @Test
    void resultsAreDeterministic() {
        Attribution a = gaussLegendre(20, IntegratedGradients.GRAPH);
        Attribution b = gaussLegendre(20, IntegratedGradients.GRAPH);

        assertThat(a.scores()).containsExactly(b.scores());
        assertThat(a.delta()).isEqualTo(b.delta());
    }

    @Test
    void predictedClassIsTheDefaultTargetAndAnotherCanBeChosen() {
        Attribution predicted = gaussLegendre(20, IntegratedGradients.GRAPH);
        Attribution oncology = ig.attribute(sample, 1, Quadrature.of(Quadrature.GAUSS_LEGENDRE, 20), IntegratedGradients.GRAPH, 0);

        assertThat(predicted.target()).isZero();
        assertThat(oncology.target()).isEqualTo(1);
        assertThat(cosine(predicted.scores(), oncology.scores())).isLessThan(0.99);
    }

    @Test
    void zeroBaselineAlsoConverges() {
        IntegratedGradients.Sample zeros = new IntegratedGradients.Sample(sample.ids(), sample.mask(), sample.types(), null);
        Attribution a = ig.attribute(zeros, 0, Quadrature.of(Quadrature.GAUSS_LEGENDRE, 50), IntegratedGradients.GRAPH, 0);

        assertThat(Math.abs(a.delta())).isLessThan(0.05 * Math.abs(a.logits()[0] - a.baselineLogits()[0]));
        assertThat(a.scores()[0]).isNotZero();
    }

    @Test
    void smallInternalBatchesGiveTheSameAnswer() {
        Attribution whole = ig.attribute(sample, 0, Quadrature.of(Quadrature.GAUSS_LEGENDRE, 20), IntegratedGradients.GRAPH, 20);
        Attribution chunked = ig.attribute(sample, 0, Quadrature.of(Quadrature.GAUSS_LEGENDRE, 20), IntegratedGradients.GRAPH, 3);

        for (int i = 0; i < whole.scores().length; i++) {
            assertThat(chunked.scores()[i]).isCloseTo(whole.scores()[i], org.assertj.core.api.Assertions.within(1e-4));
        }
    }
}
