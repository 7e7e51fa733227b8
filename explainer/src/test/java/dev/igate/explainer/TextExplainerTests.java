package dev.igate.explainer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;

import dev.igate.demo.TinyClassifier;
import dev.igate.predictor.ModelRepository;
import dev.igate.predictor.SessionSettings;
import dev.igate.predictor.batching.InstanceScheduler;
import dev.igate.protocol.Explanation;
import dev.igate.transformer.LabelDecoder;
import dev.igate.transformer.TextEncoder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How a text explanation names its words: merged sub-words cut out of the text the client sent. */
class TextExplainerTests {

    @TempDir
    Path dir;

    @Test
    void mergedWordsAreExactlyTheTextsSubstringsAfterEmoji() throws Exception {
        TinyClassifier.write(dir, "Tanh", 3);
        // each emoji is two Java chars but one character to the tokenizer; "bioavailability" is four sub-words
        String text = "I \uD83D\uDE00 love bioavailability \uD83D\uDE00 so much";
        ExplainOptions options = new ExplainOptions(null, 8, Quadrature.GAUSS_LEGENDRE, ExplainOptions.PAD, null, true, 0);

        Explanation explanation;
        try (TextEncoder encoder = TextEncoder.load(dir.resolve(ModelRepository.TOKENIZER_FILE), 128);
             TextExplainer explainer = new TextExplainer(
                     IntegratedGradients.prepare(dir.resolve(ModelRepository.MODEL_FILE), "logits", new SessionSettings("cpu", 1, 1, "all")),
                     encoder, new LabelDecoder(TinyClassifier.LABELS), InstanceScheduler.CALLER_THREAD)) {
            explanation = explainer.explain(text, options);
        }

        assertThat(explanation.words()).containsExactly("[CLS]", "I", "\uD83D\uDE00", "love", "bioavailability",
                "\uD83D\uDE00", "so", "much", "[SEP]");
    }

    @Test
    void autoStepsRaiseTheStepsUntilTheDeltaIsWithinTheToleranceOfTheLogitChange() throws Exception {
        TinyClassifier.write(dir, "Tanh", 3);
        ExplainOptions auto = ExplainOptions.from(java.util.Map.of("n_steps", "auto"), 50, 500);
        ExplainOptions few = ExplainOptions.from(java.util.Map.of("n_steps", 2L), 50, 500);

        Explanation adaptive;
        Explanation fixed;
        try (TextEncoder encoder = TextEncoder.load(dir.resolve(ModelRepository.TOKENIZER_FILE), 128);
             TextExplainer explainer = new TextExplainer(
                     IntegratedGradients.prepare(dir.resolve(ModelRepository.MODEL_FILE), "logits", new SessionSettings("cpu", 1, 1, "all")),
                     encoder, new LabelDecoder(TinyClassifier.LABELS), InstanceScheduler.CALLER_THREAD)) {
            adaptive = explainer.explain("risk assessment of oral bioavailability", auto);
            fixed = explainer.explain("risk assessment of oral bioavailability", few);
        }

        // the attributions sum to the logit change plus delta
        double change = java.util.Arrays.stream(adaptive.attributions()).sum() - adaptive.delta();
        assertThat(auto.adaptive()).isTrue();
        assertThat(adaptive.steps()).isBetween(ExplainOptions.FIRST_ADAPTIVE_STEPS, 500);
        assertThat(Math.abs(adaptive.delta())).isLessThanOrEqualTo(ExplainOptions.DELTA_TOLERANCE * Math.abs(change));
        assertThat(Math.abs(fixed.delta())).as("two steps do not converge: the loop had work to do")
                .isGreaterThan(Math.abs(adaptive.delta()));
    }
}
