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
        sample = words(SEED).sample();
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

    @Test
    void occlusionScoresAWordAsTheLogitsDropWhenItsTokensBecomeTheBaselines() {
        // [CLS] risk assessment ... : "risk" is token 1, a word of one token
        int[] groups = new int[sample.ids().length];
        for (int i = 0; i < groups.length; i++) {
            groups[i] = i == 0 || i == groups.length - 1 ? -1 : i;
        }
        Attribution a = ig.occlusion(sample, Objective.ofClass(-1), groups, 0, dev.igate.predictor.batching.InstanceScheduler.CALLER_THREAD);

        long[] occluded = sample.ids().clone();
        occluded[1] = sample.baselineIds()[1];
        int hidden = ig.embeddings().hidden();
        float[] x = new float[occluded.length * hidden];
        ig.embeddings().lookup(occluded, x, 0);
        float[] without = ig.logits(IntegratedGradients.BLACKBOX, sample, x, 1);
        assertThat(a.scores()[1]).isCloseTo(a.logits()[a.target()] - without[a.target()], org.assertj.core.api.Assertions.within(1e-4));
        assertThat(a.scores()[0]).isZero();
        assertThat(Double.isNaN(a.delta())).isTrue();
    }

    @Test
    void gradientTimesInputAgreesBetweenTheGraphAndFiniteDifferencesAndSaliencyIsAMagnitude() {
        var here = dev.igate.predictor.batching.InstanceScheduler.CALLER_THREAD;
        Attribution graph = ig.gradientAtInput(sample, Objective.ofClass(-1), false, IntegratedGradients.GRAPH, here);
        Attribution blackbox = ig.gradientAtInput(sample, Objective.ofClass(-1), false, IntegratedGradients.BLACKBOX, here);
        Attribution saliency = ig.gradientAtInput(sample, Objective.ofClass(-1), true, IntegratedGradients.GRAPH, here);

        assertThat(cosine(graph.scores(), blackbox.scores())).isGreaterThanOrEqualTo(0.99);
        assertThat(java.util.Arrays.stream(saliency.scores()).min().orElseThrow()).isGreaterThanOrEqualTo(0);
        assertThat(saliency.scores()[1]).isGreaterThan(0);
        org.assertj.core.api.Assertions.assertThatThrownBy(
                () -> ig.gradientAtInput(sample, Objective.ofClass(-1), true, IntegratedGradients.BLACKBOX, here))
                .hasMessageContaining("saliency needs the gradient graph");
    }

    @Test
    void integratedGradientsAreMoreComprehensiveThanTheirOwnReverseAndLeaveOneOutAgrees() {
        var here = dev.igate.predictor.batching.InstanceScheduler.CALLER_THREAD;
        Attribution a = gaussLegendre(50, IntegratedGradients.GRAPH);
        int[] groups = new int[sample.ids().length];
        for (int i = 0; i < groups.length; i++) {
            groups[i] = i == 0 || i == groups.length - 1 ? -1 : i - 1;
        }
        double[] reversed = new double[a.scores().length];
        for (int i = 0; i < reversed.length; i++) {
            reversed[i] = -a.scores()[i];
        }

        dev.igate.protocol.Explanation.Faithfulness ig = Faithfulness.evaluate(DemoModelExplainerIT.ig, sample, Objective.ofClass(a.target()),
                groups, a.scores(), here);
        dev.igate.protocol.Explanation.Faithfulness worst = Faithfulness.evaluate(DemoModelExplainerIT.ig, sample,
                Objective.ofClass(a.target()), groups, reversed, here);

        // removing the words it ranks first costs the prediction more than removing those it ranks last
        assertThat(ig.comprehensiveness()).isGreaterThan(worst.comprehensiveness());
        // keeping only its top words keeps more of the prediction
        assertThat(ig.sufficiency()).isLessThan(worst.sufficiency());
        assertThat(ig.leaveOneOutSpearman()).isGreaterThan(0).isEqualTo(-worst.leaveOneOutSpearman(), org.assertj.core.api.Assertions.within(1e-9));
        // the full text, 2 x 5 bins, one removal per word
        assertThat(ig.evaluations()).isEqualTo(1 + 10 + (groups.length - 2));
    }

    @Test
    void aContrastIsTheDifferenceOfTheTwoClassesAttributionsOnTheGraphAndTheBlackBox() {
        var here = dev.igate.predictor.batching.InstanceScheduler.CALLER_THREAD;
        Quadrature q = Quadrature.of(Quadrature.GAUSS_LEGENDRE, 20);
        float[] weights = new float[6];
        weights[0] = 1;
        weights[1] = -1;
        for (String gradients : List.of(IntegratedGradients.GRAPH, IntegratedGradients.BLACKBOX)) {
            Attribution contrast = ig.attribute(sample, Objective.ofContrast(0, weights), q, gradients, 0, here);
            Attribution first = ig.attribute(sample, Objective.ofClass(0), q, gradients, 0, here);
            Attribution second = ig.attribute(sample, Objective.ofClass(1), q, gradients, 0, here);

            assertThat(contrast.target()).isZero();
            assertThat(contrast.change()).isCloseTo(first.change() - second.change(), org.assertj.core.api.Assertions.within(1e-5));
            for (int i = 0; i < contrast.scores().length; i++) {
                assertThat(contrast.scores()[i]).as("%s token %d", gradients, i)
                        .isCloseTo(first.scores()[i] - second.scores()[i], org.assertj.core.api.Assertions.within(1e-5));
            }
        }
    }

    @Test
    void kernelShapIsReproducibleByItsSeedAndItsValuesSumToTheChange() {
        var here = dev.igate.predictor.batching.InstanceScheduler.CALLER_THREAD;
        int[] groups = new int[sample.ids().length];
        for (int i = 0; i < groups.length; i++) {
            groups[i] = i == 0 || i == groups.length - 1 ? -1 : i - 1;
        }
        Attribution a = ig.kernelShap(sample, Objective.ofClass(-1), groups, 256, 7, 0, here);
        Attribution b = ig.kernelShap(sample, Objective.ofClass(-1), groups, 256, 7, 0, here);
        Attribution other = ig.kernelShap(sample, Objective.ofClass(-1), groups, 256, 8, 0, here);

        assertThat(a.scores()).containsExactly(b.scores());
        assertThat(a.scores()).isNotEqualTo(other.scores());
        double sum = 0;
        for (double v : a.scores()) {
            sum += v;
        }
        assertThat(sum).isCloseTo(a.change(), org.assertj.core.api.Assertions.within(1e-6));
        assertThat(a.rows()).isEqualTo(259);
        // the words occlusion finds decisive, kernel SHAP finds decisive too
        Attribution occlusion = ig.occlusion(sample, Objective.ofClass(-1), groups, 0, here);
        assertThat(cosine(a.scores(), occlusion.scores())).isGreaterThan(0.5);
    }

    /** A text's sample against the pad baseline, and each token's word (-1 for [CLS] and [SEP]). */
    record Words(IntegratedGradients.Sample sample, int[] groups, int words) {
    }

    static Words words(String text) throws Exception {
        Path dir = Path.of("target", "test-models").toAbsolutePath().resolve(DemoRepository.MODEL_NAME).resolve("1");
        try (TextEncoder encoder = TextEncoder.load(dir.resolve("tokenizer.json"), 128)) {
            TokenBatch batch = encoder.encode(List.of(text));
            long[] ids = batch.ids(0);
            long[] baseline = ids.clone();
            for (int i = 1; i < baseline.length - 1; i++) {
                baseline[i] = 0;
            }
            long[] wordIds = batch.wordIds()[0];
            int[] groups = new int[ids.length];
            int words = 0;
            for (int i = 0; i < ids.length; i++) {
                groups[i] = (int) wordIds[i];
                words = Math.max(words, groups[i] + 1);
            }
            return new Words(new IntegratedGradients.Sample(ids, batch.attentionMask().clone(), batch.typeIds().clone(), baseline), groups,
                    words);
        }
    }

    /**
     * The exact Shapley values of a text's words for the predicted class, by the definition: every
     * coalition's logit run (absent words' tokens at the baseline's embeddings), then each word's
     * marginal contributions weighted by |S|! (n - |S| - 1)! / n!. Nothing of kernel SHAP's code.
     */
    static double[] exactShapley(Words w, int target) {
        int n = w.words();
        long[] ids = w.sample().ids();
        int hidden = ig.embeddings().hidden();
        float[] x = new float[ids.length * hidden];
        float[] b = new float[ids.length * hidden];
        ig.embeddings().lookup(ids, x, 0);
        ig.embeddings().lookup(w.sample().baselineIds(), b, 0);
        int subsets = 1 << n;
        float[] points = new float[subsets * x.length];
        for (int mask = 0; mask < subsets; mask++) {
            System.arraycopy(x, 0, points, mask * x.length, x.length);
            for (int i = 0; i < ids.length; i++) {
                if (w.groups()[i] >= 0 && (mask >> w.groups()[i] & 1) == 0) {
                    System.arraycopy(b, i * hidden, points, mask * x.length + i * hidden, hidden);
                }
            }
        }
        float[] logits = ig.logits(IntegratedGradients.BLACKBOX, w.sample(), points, subsets);
        int classes = logits.length / subsets;
        double[] factorial = new double[n + 1];
        factorial[0] = 1;
        for (int k = 1; k <= n; k++) {
            factorial[k] = factorial[k - 1] * k;
        }
        double[] phi = new double[n];
        for (int mask = 0; mask < subsets; mask++) {
            int size = Integer.bitCount(mask);
            for (int i = 0; i < n; i++) {
                if ((mask >> i & 1) == 0) {
                    double weight = factorial[size] * factorial[n - size - 1] / factorial[n];
                    phi[i] += weight * (logits[(mask | 1 << i) * classes + target] - logits[mask * classes + target]);
                }
            }
        }
        return phi;
    }

    /** Kernel SHAP's per-word values: its per-token scores summed back over each word's tokens. */
    static double[] perWord(Attribution a, Words w) {
        double[] out = new double[w.words()];
        for (int i = 0; i < w.groups().length; i++) {
            if (w.groups()[i] >= 0) {
                out[w.groups()[i]] += a.scores()[i];
            }
        }
        return out;
    }

    @Test
    void shapleyValuesMatchTheExactOnesByEnumerationOnTextsOfAtMostEightWords() throws Exception {
        var here = dev.igate.predictor.batching.InstanceScheduler.CALLER_THREAD;
        for (String text : List.of("Cadmium exposure damaged kidney tubules in rats.", "Tumour growth slowed under checkpoint inhibitors.",
                "Wetland birds declined after drainage")) {
            Words w = words(text);
            assertThat(w.words()).as(text).isBetween(5, 8);
            Attribution shap = ig.kernelShap(w.sample(), Objective.ofClass(-1), w.groups(), ExplainOptions.DEFAULT_SAMPLES, 0, 0, here);
            double[] exact = exactShapley(w, shap.target());
            double[] got = perWord(shap, w);
            double error = 0;
            for (int i = 0; i < exact.length; i++) {
                error += Math.abs(got[i] - exact[i]) / exact.length;
            }
            // the goal: a mean absolute error within 5% of the logit change at the default budget
            System.out.printf("shap vs exact Shapley, %d words: MAE %.2e of change %.3f%n", w.words(), error, shap.change());
            assertThat(error).as(text).isLessThanOrEqualTo(0.05 * Math.abs(shap.change()));
            assertThat(shap.rows()).isEqualTo((1L << w.words()) - 2 + 3);
        }
        // eleven words at the default budget: 256 coalitions drawn of 2,046, the values estimated (measured: MAE 0.056, 1.1% of the change)
        Words eleven = words("Chronic cadmium exposure damaged kidney tubules in young male rats.");
        Attribution sampled = ig.kernelShap(eleven.sample(), Objective.ofClass(-1), eleven.groups(), ExplainOptions.DEFAULT_SAMPLES, 0, 0, here);
        double[] exact = exactShapley(eleven, sampled.target());
        double[] got = perWord(sampled, eleven);
        double error = 0;
        for (int i = 0; i < exact.length; i++) {
            error += Math.abs(got[i] - exact[i]) / exact.length;
        }
        System.out.printf("shap vs exact Shapley, %d words, 256 of %d coalitions sampled: MAE %.4f of change %.3f%n", eleven.words(),
                (1 << eleven.words()) - 2, error, sampled.change());
        assertThat(sampled.rows()).isEqualTo(ExplainOptions.DEFAULT_SAMPLES + 3L);
        assertThat(error).isLessThanOrEqualTo(0.1 * Math.abs(sampled.change()));
    }

    @Test
    void withTheBaselineEqualToTheInputEveryAttributionAndTheDeltaAreZero() {
        var here = dev.igate.predictor.batching.InstanceScheduler.CALLER_THREAD;
        IntegratedGradients.Sample itself = new IntegratedGradients.Sample(sample.ids(), sample.mask(), sample.types(), sample.ids());
        int[] groups = new int[sample.ids().length];
        for (int i = 0; i < groups.length; i++) {
            groups[i] = i == 0 || i == groups.length - 1 ? -1 : i - 1;
        }
        List<Attribution> all = List.of(
                ig.attribute(itself, Objective.ofClass(-1), Quadrature.of(Quadrature.GAUSS_LEGENDRE, 16), IntegratedGradients.GRAPH, 0, here),
                ig.attribute(itself, Objective.ofClass(-1), Quadrature.of(Quadrature.GAUSS_LEGENDRE, 4), IntegratedGradients.BLACKBOX, 0, here),
                ig.occlusion(itself, Objective.ofClass(-1), groups, 0, here),
                ig.kernelShap(itself, Objective.ofClass(-1), groups, 64, 0, 0, here));
        for (Attribution a : all) {
            for (double v : a.scores()) {
                assertThat(v).isCloseTo(0, org.assertj.core.api.Assertions.within(1e-5));
            }
            assertThat(a.change()).isCloseTo(0, org.assertj.core.api.Assertions.within(1e-5));
        }
        assertThat(all.get(0).delta()).isCloseTo(0, org.assertj.core.api.Assertions.within(1e-5));
        assertThat(all.get(1).delta()).isCloseTo(0, org.assertj.core.api.Assertions.within(1e-5));
    }

    @Test
    void everyMergedWordOfTheHeldOutSetIsTheSliceItsOffsetsName() throws Exception {
        Path dir = Path.of("target", "test-models").toAbsolutePath().resolve(DemoRepository.MODEL_NAME).resolve("1");
        List<String> texts = new java.util.ArrayList<>(dev.igate.demo.LabelledSentence.dataset().stream()
                .filter(dev.igate.demo.LabelledSentence::test).map(dev.igate.demo.LabelledSentence::text).toList());
        texts.add("Acétaminophène 🐟 (paracetamol) at 5 µM — hepatotoxic? Yes: \"very\", in rats 🐀🐀!");
        texts.add("Naïve T-cells; Zürich's cohort, 2×10⁶ cells/mL, showed IL-6 ↑.");
        ExplainOptions options = ExplainOptions.from(java.util.Map.of("explainer", "gradient_x_input", "merge_subwords", true), 50, 500);
        int words = 0;
        try (TextEncoder encoder = TextEncoder.load(dir.resolve("tokenizer.json"), 128)) {
            TextExplainer explainer = new TextExplainer(ig, encoder, new dev.igate.transformer.LabelDecoder(
                    dev.igate.demo.LabelledSentence.labels(dev.igate.demo.LabelledSentence.dataset())),
                    dev.igate.predictor.batching.InstanceScheduler.CALLER_THREAD);
            for (String text : texts) {
                dev.igate.protocol.Explanation e = explainer.explain(text, options);
                for (int i = 0; i < e.words().size(); i++) {
                    if (e.starts()[i] < 0) {
                        assertThat(e.words().get(i)).isIn("[CLS]", "[SEP]");
                        continue;
                    }
                    int from = text.offsetByCodePoints(0, e.starts()[i]);
                    int to = text.offsetByCodePoints(0, e.ends()[i]);
                    assertThat(text.substring(from, to)).as(text).isEqualTo(e.words().get(i));
                    words++;
                }
            }
        }
        assertThat(texts).hasSizeGreaterThan(90);
        assertThat(words).isGreaterThan(1000);
    }

    /** Runs pieces on the caller's thread and counts their model rows. */
    static final class Counting implements dev.igate.predictor.batching.InstanceScheduler {
        long rows;

        @Override
        public <R> java.util.concurrent.CompletableFuture<R> submit(dev.igate.predictor.batching.BatchJob<R> job) {
            rows += job.rows();
            return CALLER_THREAD.submit(job);
        }
    }

    @Test
    void topKClassesEqualSeparateExplanationsAndShareTheirForwardPasses() throws Exception {
        Path dir = Path.of("target", "test-models").toAbsolutePath().resolve(DemoRepository.MODEL_NAME).resolve("1");
        List<String> labels = dev.igate.demo.LabelledSentence.labels(dev.igate.demo.LabelledSentence.dataset());
        try (TextEncoder encoder = TextEncoder.load(dir.resolve("tokenizer.json"), 128)) {
            TextExplainer explainer = new TextExplainer(ig, encoder, new dev.igate.transformer.LabelDecoder(labels),
                    dev.igate.predictor.batching.InstanceScheduler.CALLER_THREAD);
            TextExplainer.Tokenized text = explainer.tokenize(SEED);
            List<Integer> classes = List.of(0, 2, 4);
            for (java.util.Map<String, Object> asked : List.<java.util.Map<String, Object>>of(
                    java.util.Map.of("explainer", "integrated_gradients", "n_steps", 8L),
                    java.util.Map.of("explainer", "integrated_gradients", "n_steps", 2L, "gradients", "blackbox"),
                    java.util.Map.of("explainer", "gradient_x_input", "gradients", "blackbox"),
                    java.util.Map.of("explainer", "occlusion"),
                    java.util.Map.of("explainer", "shap", "n_samples", 64L),
                    java.util.Map.of("explainer", "occlusion", "contrast_with", "Ecology"))) {
                ExplainOptions options = ExplainOptions.from(asked, 50, 500);
                Counting together = new Counting();
                List<dev.igate.protocol.Explanation> all = explainer.explainClasses(text, options, together, classes);
                Counting apart = new Counting();
                for (int k = 0; k < classes.size(); k++) {
                    java.util.Map<String, Object> one = new java.util.HashMap<>(asked);
                    one.put("target", (long) classes.get(k));
                    dev.igate.protocol.Explanation alone = explainer.explain(text, ExplainOptions.from(one, 50, 500), apart);
                    assertThat(all.get(k).target()).isEqualTo(labels.get(classes.get(k)));
                    for (int i = 0; i < alone.attributions().length; i++) {
                        assertThat(all.get(k).attributions()[i]).as("%s class %d word %d", asked, classes.get(k), i)
                                .isCloseTo(alone.attributions()[i], org.assertj.core.api.Assertions.within(1e-6));
                    }
                }
                System.out.printf("top-3 %s: %d model rows together, %d apart (%.2f)%n", asked, together.rows, apart.rows,
                        (double) together.rows / apart.rows);
                boolean graph = !asked.containsKey("gradients") && asked.get("explainer").equals("integrated_gradients");
                // the gradient graph's path runs per class (F(x) and F(baseline) shared); every black-box pass is shared
                assertThat(together.rows).as("%s", asked).isEqualTo(graph ? apart.rows - 2 * (classes.size() - 1) : apart.rows / classes.size());
            }
        }
    }

    @Test
    void explanationDriftStaysAtOneForAnIdenticalCanaryAndFallsForAShuffledLabelsOne() throws Exception {
        Path root = Path.of("target", "test-models").toAbsolutePath().resolve(DemoRepository.MODEL_NAME);
        Path control = Path.of("target", "control-models").toAbsolutePath().resolve(DemoRepository.MODEL_NAME);
        if (!java.nio.file.Files.exists(control.resolve("9").resolve("model.onnx"))) {
            DemoRepository.buildShuffledLabels(control, "9", 7);
        }
        List<String> labels = dev.igate.demo.LabelledSentence.labels(dev.igate.demo.LabelledSentence.dataset());
        List<String> texts = dev.igate.demo.LabelledSentence.dataset().stream().filter(dev.igate.demo.LabelledSentence::test)
                .map(dev.igate.demo.LabelledSentence::text).limit(16).toList();
        // what the drift monitor asks of both revisions: 16 steps, words merged, the predicted class, the top 5 words
        ExplainOptions options = ExplainOptions.from(java.util.Map.of("n_steps", 16L, "merge_subwords", true), 50, 500);
        var settings = new SessionSettings("cpu", 0, 1, "all");
        double[] same = new double[2];
        double[] shuffled = new double[2];
        try (TextEncoder encoder = TextEncoder.load(root.resolve("1").resolve("tokenizer.json"), 128);
             IntegratedGradients again = IntegratedGradients.prepare(root.resolve("1").resolve("model.onnx"), "logits", settings);
             IntegratedGradients noise = IntegratedGradients.prepare(control.resolve("9").resolve("model.onnx"), "logits", settings)) {
            var here = dev.igate.predictor.batching.InstanceScheduler.CALLER_THREAD;
            var decoder = new dev.igate.transformer.LabelDecoder(labels);
            TextExplainer stable = new TextExplainer(ig, encoder, decoder, here);
            TextExplainer identical = new TextExplainer(again, encoder, decoder, here);
            TextExplainer randomised = new TextExplainer(noise, encoder, decoder, here);
            for (String text : texts) {
                dev.igate.protocol.Explanation a = stable.explain(text, options);
                dev.igate.protocol.Explanation b = identical.explain(text, options);
                dev.igate.protocol.Explanation c = randomised.explain(text, options);
                same[0] += Faithfulness.overlap(a.importances(), b.importances(), 5) / texts.size();
                same[1] += Faithfulness.spearman(a.importances(), b.importances()) / texts.size();
                shuffled[0] += Faithfulness.overlap(a.importances(), c.importances(), 5) / texts.size();
                shuffled[1] += Faithfulness.spearman(a.importances(), c.importances()) / texts.size();
            }
        }
        System.out.printf("explanation drift over %d held-out sentences, top-5 overlap / Spearman: identical canary %.3f / %.3f, "
                + "shuffled-labels canary %.3f / %.3f%n", texts.size(), same[0], same[1], shuffled[0], shuffled[1]);
        assertThat(same[0]).isGreaterThanOrEqualTo(0.99);
        assertThat(same[1]).isGreaterThanOrEqualTo(0.99);
        assertThat(shuffled[0]).isLessThan(same[0] - 0.2);
        assertThat(shuffled[1]).isLessThan(same[1] - 0.3);
    }
}
