package dev.igate.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import java.util.Map;

import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Tensor;
import dev.igate.protocol.TextRows;
import org.junit.jupiter.api.Test;

/** Zero-shot classification and reranking on hand-built logits, against the formulas HuggingFace and TEI document. */
class PairTasksTests {

    static final List<String> NLI = List.of("entailment", "neutral", "contradiction");

    /** The tokens a task's rows give, as far as decoding reads them (rows, texts, pairs). */
    static TokenBatch tokens(TextRows rows) {
        int n = rows.size();
        return new TokenBatch(n, 1, new long[n], new long[n], new long[n], new long[n][1], new String[n][1], new boolean[n],
                new int[n][1], new int[n][1], rows.texts(), rows.pairs(), new long[n][1]);
    }

    static Task task(Map<String, Object> parameters) {
        return Task.forRequest(Task.of(Task.SINGLE_LABEL, NLI), "Nli", true, 0, parameters);
    }

    @Test
    void zeroShotPairsEachTextWithEachHypothesisAndSoftmaxesEntailmentAcrossLabels() {
        Task zeroShot = task(Map.of("candidate_labels", "[\"sports\", \"politics\"]", "hypothesis_template", "It is about {}."));
        TextRows rows = zeroShot.rows(TextRows.of(List.of("first", "second")));
        assertThat(rows.texts()).containsExactly("first", "first", "second", "second");
        assertThat(rows.pairs()).containsExactly("It is about sports.", "It is about politics.", "It is about sports.", "It is about politics.");
        assertThat(zeroShot.truncation()).isEqualTo(TextEncoder.Truncation.ONLY_FIRST);
        float[] logits = {1, 0, 0, 3, 0, 0, /* second text */ 0, 0, 2, 0, 0, 2};

        List<Prediction> p = zeroShot.decode(Tensor.ofFloats("logits", new long[] {4, 3}, logits), tokens(rows));

        double politics = Math.exp(3) / (Math.exp(1) + Math.exp(3));
        assertThat(p.get(0).labels()).containsExactly("politics", "sports");
        assertThat(p.get(0).scores()[1]).isCloseTo((float) politics, within(1e-6f));
        // equal scores keep the candidates' order
        assertThat(p.get(1).labels()).containsExactly("sports", "politics");
        assertThat(zeroShot.v1(p.get(0), false)).isEqualTo(Map.of("sequence", "first", "labels", List.of("politics", "sports"),
                "scores", List.of((float) politics, (float) (1 - politics))));
    }

    @Test
    void multiLabelAndASingleLabelScoreEachLabelOverContradictionAndEntailment() {
        float[] logits = {2, 5, -1};
        for (Map<String, Object> parameters : List.of(Map.<String, Object>of("candidate_labels", "only"),
                Map.<String, Object>of("candidate_labels", "only", "multi_label", "true"))) {
            Task zeroShot = task(parameters);
            Prediction p = zeroShot.decode(Tensor.ofFloats("logits", new long[] {1, 3}, logits),
                    tokens(zeroShot.rows(TextRows.of(List.of("t"))))).get(0);
            // entailment is label 0, so contradiction is the last: a softmax over [-1, 2]
            assertThat(p.scores()[0]).isCloseTo((float) (1 / (1 + Math.exp(-1 - 2))), within(1e-6f));
        }
        // with entailment elsewhere, contradiction is the first label
        Task other = Task.forRequest(Task.of(Task.SINGLE_LABEL, List.of("contradiction", "neutral", "entailment")), "Nli", true, 2,
                Map.of("candidate_labels", "x", "multi_label", true));
        Prediction p = other.decode(Tensor.ofFloats("logits", new long[] {1, 3}, new float[] {1, 9, 4}),
                tokens(other.rows(TextRows.of(List.of("t"))))).get(0);
        assertThat(p.scores()[0]).isCloseTo((float) (1 / (1 + Math.exp(1 - 4))), within(1e-6f));
    }

    @Test
    void zeroShotRefusesWhatThePipelineRefuses() {
        assertThatThrownBy(() -> task(Map.of("candidate_labels", " , "))).hasMessageContaining("at least one label");
        assertThatThrownBy(() -> task(Map.of("candidate_labels", "a", "hypothesis_template", "No slot")))
                .hasMessageContaining("was not able to be formatted");
        assertThatThrownBy(() -> task(Map.of("candidate_labels", "a", "multi_label", 2))).hasMessageContaining("multi_label must be true or false");
        assertThatThrownBy(() -> Task.forRequest(Task.of(null, List.of("a", "b")), "Plain", false, -1, Map.of("candidate_labels", "a")))
                .isInstanceOf(InvalidInputException.class).hasMessageContaining("not an NLI model");
        assertThatThrownBy(() -> task(Map.of("candidate_labels", "a")).rows(new TextRows(List.of("t"), List.of("p"))))
                .hasMessageContaining("takes single texts");
    }

    @Test
    void rerankPairsTheQueryWithEachTextAndSortsBySigmoidOrRawScore() {
        Task base = Task.of(null, List.of("LABEL_0"));
        Task rerank = Task.forRequest(base, "Ce", true, -1, Map.of("query", "q", "top_n", 2L, "return_text", true));
        TextRows rows = rerank.rows(TextRows.of(List.of("a", "b", "c")));
        assertThat(rows.texts()).containsExactly("q", "q", "q");
        assertThat(rows.pairs()).containsExactly("a", "b", "c");

        List<Prediction> ranked = rerank.decode(Tensor.ofFloats("logits", new long[] {3, 1}, new float[] {0.5f, 2, -1}), tokens(rows));

        assertThat(ranked).extracting(Prediction::index).containsExactly(1, 0);
        assertThat(rerank.v1(ranked.get(0), false)).isEqualTo(Map.of("index", 1, "score", (float) (1 / (1 + Math.exp(-2))), "text", "b"));
        Task raw = Task.forRequest(base, "Ce", true, -1, Map.of("query", "q", "raw_scores", true));
        Prediction best = raw.decode(Tensor.ofFloats("logits", new long[] {3, 1}, new float[] {0.5f, 2, -1}), tokens(rows)).get(0);
        assertThat(raw.v1(best, false)).isEqualTo(Map.of("index", 1, "score", 2f));
    }

    @Test
    void rerankRefusesAnEmptyQueryABadTopNAndAModelThatIsNoCrossEncoder() {
        Task base = Task.of(null, List.of("LABEL_0"));
        assertThatThrownBy(() -> Task.forRequest(base, "Ce", true, -1, Map.of("query", ""))).hasMessageContaining("non-empty string");
        assertThatThrownBy(() -> Task.forRequest(base, "Ce", true, -1, Map.of("query", "q", "top_n", 0L))).hasMessageContaining("positive integer");
        assertThatThrownBy(() -> Task.forRequest(base, "Ce", false, -1, Map.of("query", "q"))).hasMessageContaining("reads single texts");
        assertThatThrownBy(() -> Task.forRequest(Task.of(null, NLI), "Nli", true, 0, Map.of("query", "q"))).hasMessageContaining("has 3 outputs");
    }
}
