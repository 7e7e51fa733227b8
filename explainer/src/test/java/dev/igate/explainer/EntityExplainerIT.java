package dev.igate.explainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import dev.igate.demo.TaskDemos;
import dev.igate.predictor.SessionSettings;
import dev.igate.predictor.batching.InstanceScheduler;
import dev.igate.protocol.Explanation;
import dev.igate.protocol.Tensor;
import dev.igate.transformer.EntityTargets;
import dev.igate.transformer.Prediction;
import dev.igate.transformer.Task;
import dev.igate.transformer.TextEncoder;
import dev.igate.transformer.TokenBatch;
import dev.igate.transformer.TokenClassification;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Explaining an entity of the demo token classifier (target/task-models): its gradient graph is
 * seeded with a weight per output, the entity's label's logits over its tokens, and agrees with
 * central finite differences of that sum per token; the adaptive quadrature's delta is within 1%
 * of the sum's change; the black-box method agrees with the graph.
 */
class EntityExplainerIT {

    static final Path ROOT = Path.of("target", "task-models").toAbsolutePath();
    static final String TEXT = "Wistar rats given 10 mg/kg/day of benzene developed liver lesions.";

    static IntegratedGradients ig;
    static TextEncoder encoder;
    static TokenClassification task;

    @BeforeAll
    static void prepare() throws Exception {
        TaskDemos.ensure(ROOT);
        Path dir = ROOT.resolve(TaskDemos.TOKEN_MODEL).resolve("1");
        ig = IntegratedGradients.prepare(dir.resolve("model.onnx"), "logits", new SessionSettings("cpu", 0, 1, "all"));
        encoder = TextEncoder.load(dir.resolve("tokenizer.json"), 128);
        List<String> labels = List.of("O", "B-CHEMICAL", "I-CHEMICAL", "B-SPECIES", "I-SPECIES", "B-DOSE", "I-DOSE", "B-ORGAN", "I-ORGAN");
        task = (TokenClassification) Task.of(Task.TOKEN_CLASSIFICATION, labels).forRequest(Map.of("aggregation_strategy", "first"));
    }

    @AfterAll
    static void close() {
        ig.close();
        encoder.close();
    }

    static Prediction.Entity found(String group) {
        TokenBatch batch = encoder.encode(List.of(TEXT));
        float[] logits = ig.logits(IntegratedGradients.BLACKBOX, sample(batch), embeddings(batch), 1);
        Prediction p = task.decode(Tensor.ofFloats("logits", new long[] {1, batch.ids(0).length, task.labels().size()}, logits), batch).get(0);
        return p.entities().stream().filter(e -> e.label().equals(group)).findFirst().orElseThrow();
    }

    static IntegratedGradients.Sample sample(TokenBatch batch) {
        long[] ids = batch.ids(0);
        long[] baseline = ids.clone();
        for (int i = 0; i < ids.length; i++) {
            if (batch.wordIds()[0][i] >= 0) {
                baseline[i] = encoder.padId();
            }
        }
        return new IntegratedGradients.Sample(ids, batch.mask(0), batch.types(0), baseline);
    }

    static float[] embeddings(TokenBatch batch) {
        float[] x = new float[batch.ids(0).length * ig.embeddings().hidden()];
        ig.embeddings().lookup(batch.ids(0), x, 0);
        return x;
    }

    @Test
    void anEntitysGradientMatchesFiniteDifferencesOfItsLabelsLogitsOverItsTokens() {
        TokenBatch batch = encoder.encode(List.of(TEXT));
        Prediction.Entity chemical = found("CHEMICAL");
        assertThat(chemical.word()).isEqualTo("benzene");
        float[] weights = EntityTargets.weights(batch, TEXT, chemical, task.labels());

        GradientCheck.checkAgainstFiniteDifferences(ig, sample(batch), 3e-3, Objective.ofWeights(weights));
    }

    @Test
    void anEntitysExplanationConvergesAndTheBlackBoxAgrees() {
        TextExplainer explainer = new TextExplainer(ig, encoder, task, InstanceScheduler.CALLER_THREAD);
        TextExplainer.Tokenized tokens = explainer.tokenize(TEXT);
        Prediction.Entity species = found("SPECIES");
        TextExplainer.Target target = TextExplainer.Target.ofWeights(EntityTargets.weights(tokens.batch(), TEXT, species, task.labels()));

        Explanation graph = explainer.explain(tokens, ExplainOptions.from(Map.of("n_steps", "auto", "merge_subwords", true), 50, 400),
                InstanceScheduler.CALLER_THREAD, target);
        Explanation blackbox = explainer.explain(tokens, ExplainOptions.from(Map.of("n_steps", 50L, "merge_subwords", true,
                "gradients", "blackbox"), 50, 400), InstanceScheduler.CALLER_THREAD, target);

        double change = -graph.delta();
        for (double a : graph.attributions()) {
            change += a;
        }
        assertThat(Math.abs(graph.delta())).isLessThanOrEqualTo(0.01 * Math.abs(change));
        assertThat(graph.words()).contains("Wistar", "rats", "benzene");
        assertThat(DemoModelExplainerIT.cosine(graph.attributions(), blackbox.attributions())).isGreaterThanOrEqualTo(0.99);
        // a class of a per-token model is no objective
        assertThatThrownBy(() -> explainer.explain(tokens, ExplainOptions.from(Map.of(), 50, 400), InstanceScheduler.CALLER_THREAD))
                .hasMessageContaining("explain an entity");
    }
}
