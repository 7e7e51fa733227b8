package dev.igate.benchmark;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import dev.igate.demo.DemoRepository;
import dev.igate.demo.LabelledSentence;
import dev.igate.explainer.ExplainOptions;
import dev.igate.explainer.IntegratedGradients;
import dev.igate.explainer.TextExplainer;
import dev.igate.predictor.ModelConfig;
import dev.igate.predictor.SessionSettings;
import dev.igate.predictor.batching.InstanceScheduler;
import dev.igate.protocol.Explanation;
import dev.igate.transformer.Task;
import dev.igate.transformer.TextEncoder;

/**
 * {@code ./benchmark.sh faithfulness}: each explainer scored over the demo model's 96 held-out
 * sentences with ERASER's measures (comprehensiveness and sufficiency AOPC over the top 1, 5, 10,
 * 20 and 50% of the words, leave-one-out Spearman), the target the predicted label, and the
 * attribution's median time in process (one session, every core). A random ranking of the same
 * words is the floor: a method worth its cost beats it on both AOPCs.
 */
public final class FaithfulnessBenchmark {

    private FaithfulnessBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args.length > 0 ? args[0] : "models").toAbsolutePath();
        DemoRepository.ensure(root);
        Path dir = root.resolve(DemoRepository.MODEL_NAME).resolve("1");
        List<String> texts = LabelledSentence.dataset().stream().filter(LabelledSentence::test).map(LabelledSentence::text).toList();
        Task task = Task.of("single_label_classification", ModelConfig.read(dir.resolve("config.json")).labels());
        int cores = Runtime.getRuntime().availableProcessors();
        try (TextEncoder encoder = TextEncoder.load(dir.resolve("tokenizer.json"), 128);
             IntegratedGradients ig = IntegratedGradients.prepare(dir.resolve("model.onnx"), "logits",
                     new SessionSettings("cpu", cores, 1, "all"))) {
            TextExplainer explainer = new TextExplainer(ig, encoder, task, InstanceScheduler.CALLER_THREAD);
            System.out.printf(Locale.ROOT, "%nFaithfulness (ERASER), demo model v1, %d held-out sentences, target the predicted label, "
                    + "CPU %d cores, in process%n", texts.size(), cores);
            System.out.printf(Locale.ROOT, "%-22s %18s %14s %14s %12s %12s%n", "explainer", "comprehensiveness", "sufficiency",
                    "LOO Spearman", "median ms", "model rows");
            for (String method : List.of("random", ExplainOptions.INTEGRATED_GRADIENTS, ExplainOptions.GRADIENT_X_INPUT,
                    ExplainOptions.SALIENCY, ExplainOptions.OCCLUSION, ExplainOptions.SHAP)) {
                double comprehensiveness = 0;
                double sufficiency = 0;
                double spearman = 0;
                long rows = 0;
                double[] millis = new double[texts.size()];
                for (int i = 0; i < texts.size(); i++) {
                    TextExplainer.Tokenized tokens = explainer.tokenize(texts.get(i));
                    Explanation.Faithfulness f;
                    if (method.equals("random")) {
                        // the floor: random scores, a fixed seed per text; a method worth its cost beats them
                        java.util.Random random = new java.util.Random(i);
                        double[] scores = new double[tokens.batch().ids(0).length];
                        for (int t = 0; t < scores.length; t++) {
                            scores[t] = random.nextGaussian();
                        }
                        f = explainer.faithfulness(tokens, ExplainOptions.from(Map.of(), 50, 500), scores, InstanceScheduler.CALLER_THREAD);
                    } else {
                        ExplainOptions options = ExplainOptions.from(Map.of("explainer", method, "n_steps", 50L, "evaluate", true), 50, 500);
                        Explanation e = explainer.explain(tokens, options, InstanceScheduler.CALLER_THREAD);
                        // the attribution's own time; the measures after it are not part of it
                        millis[i] = e.millis();
                        rows += e.evaluations();
                        f = e.faithfulness();
                    }
                    comprehensiveness += f.comprehensiveness();
                    sufficiency += f.sufficiency();
                    spearman += Double.isNaN(f.leaveOneOutSpearman()) ? 0 : f.leaveOneOutSpearman();
                }
                java.util.Arrays.sort(millis);
                int n = texts.size();
                System.out.printf(Locale.ROOT, "%-22s %18.4f %14.4f %14.3f %12.1f %12.1f%n", method, comprehensiveness / n,
                        sufficiency / n, spearman / n, method.equals("random") ? Double.NaN : millis[n / 2], (double) rows / n);
            }
        }
    }
}
