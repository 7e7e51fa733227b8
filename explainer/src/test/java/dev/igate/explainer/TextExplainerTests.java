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
}
