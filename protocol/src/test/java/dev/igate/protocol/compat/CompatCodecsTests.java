package dev.igate.protocol.compat;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.List;

import dev.igate.protocol.Json;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

class CompatCodecsTests {

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void teiPredictReadsAStringATextAPairAndABatchAsTeiDoes() {
        assertThat(TeiCodec.decodePredict(utf8("{\"inputs\": \"a\"}")).rows().texts()).containsExactly("a");
        TeiCodec.Predict one = TeiCodec.decodePredict(utf8("{\"inputs\": [\"a\"]}"));
        assertThat(one.batch()).isFalse();
        assertThat(one.rows().paired()).isFalse();
        TeiCodec.Predict pair = TeiCodec.decodePredict(utf8("{\"inputs\": [\"a\", \"b\"], \"truncate\": false, \"raw_scores\": true}"));
        assertThat(pair.rows().pairs()).containsExactly("b");
        assertThat(pair.truncate()).isFalse();
        assertThat(pair.rawScores()).isTrue();
        TeiCodec.Predict batch = TeiCodec.decodePredict(utf8("{\"inputs\": [[\"a\", \"b\"], [\"c\", \"d\"]], \"truncation_direction\": \"right\"}"));
        assertThat(batch.batch()).isTrue();
        assertThat(batch.rows().texts()).containsExactly("a", "c");
        assertThat(batch.truncate()).isTrue();
        assertThatThrownBy(() -> TeiCodec.decodePredict(utf8("{\"inputs\": [\"a\", \"b\", \"c\"]}"))).hasMessageContaining("[text, text_pair]");
        assertThatThrownBy(() -> TeiCodec.decodePredict(utf8("{\"inputs\": [[\"a\"], [\"b\", \"c\"]]}"))).hasMessageContaining("text_pair");
        assertThat(TeiCodec.decodePredict(utf8("{\"inputs\": \"a\", \"truncation_direction\": \"Left\"}")).fromLeft()).isTrue();
        assertThatThrownBy(() -> TeiCodec.decodePredict(utf8("{\"inputs\": \"a\", \"truncation_direction\": \"Up\"}")))
                .hasMessageContaining("Right or Left");
    }

    @Test
    void teiPredictAnswersEveryLabelSortedSoftmaxForManySigmoidForOne() {
        JsonNode many = Json.MAPPER.readTree(TeiCodec.encodePredict(List.of("a", "b"), new float[] {0, 1}, 1, false, false));
        assertThat(many.get(0).get("label").asString()).isEqualTo("b");
        assertThat(many.get(0).get("score").doubleValue()).isCloseTo(Math.exp(1) / (1 + Math.exp(1)), org.assertj.core.api.Assertions.within(1e-6));
        JsonNode one = Json.MAPPER.readTree(TeiCodec.encodePredict(List.of("LABEL_0"), new float[] {0, 2}, 2, true, false));
        assertThat(one.get(1).get(0).get("score").doubleValue()).isCloseTo(1 / (1 + Math.exp(-2)), org.assertj.core.api.Assertions.within(1e-6));
        JsonNode raw = Json.MAPPER.readTree(TeiCodec.encodePredict(List.of("a", "b"), new float[] {3, 1}, 1, false, true));
        assertThat(raw.get(0).get("score").doubleValue()).isEqualTo(3.0);
    }

    @Test
    void huggingFaceInputsAreATextAPairOrAListOfEither() {
        HfInferenceCodec.Request text = HfInferenceCodec.decode(utf8("{\"inputs\": \"a\", \"parameters\": {\"top_k\": 2}}"));
        assertThat(text.batch()).isFalse();
        assertThat(text.parameters()).containsEntry("top_k", 2L);
        HfInferenceCodec.Request pairs = HfInferenceCodec.decode(utf8("{\"inputs\": [{\"text\": \"a\", \"text_pair\": \"b\"}]}"));
        assertThat(pairs.batch()).isTrue();
        assertThat(pairs.rows().pairs()).containsExactly("b");
        assertThatThrownBy(() -> HfInferenceCodec.decode(utf8("{\"inputs\": 3}"))).hasMessageContaining("a string or {\"text\"");
        assertThatThrownBy(() -> HfInferenceCodec.decode(utf8("{\"parameters\": {}}"))).hasMessageContaining("\"inputs\" is missing");
    }

    @Test
    void scoresFollowTheTextClassificationPipelinesDefaultsAndTopK() {
        assertThat(Scores.Function.defaultFor("regression", 1)).isEqualTo(Scores.Function.NONE);
        assertThat(Scores.Function.defaultFor(null, 1)).isEqualTo(Scores.Function.SIGMOID);
        assertThat(Scores.Function.defaultFor("multi_label_classification", 3)).isEqualTo(Scores.Function.SIGMOID);
        assertThat(Scores.Function.defaultFor("single_label_classification", 3)).isEqualTo(Scores.Function.SOFTMAX);
        assertThat(Scores.ranked(List.of("a", "b", "c"), new double[] {0.2, 0.5, 0.3}, 2, false))
                .extracting(m -> m.get("label")).containsExactly("b", "c");
        assertThatThrownBy(() -> Scores.Function.of("tanh")).hasMessageContaining("softmax, sigmoid or none");
    }
}
