package dev.igate.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.List;

import org.junit.jupiter.api.Test;

class TaskTests {

    @Test
    void theTaskFollowsProblemTypeAndASingleOutputIsARegression() {
        assertThat(Task.of(null, List.of("a", "b")).problemType()).isEqualTo(Task.SINGLE_LABEL);
        assertThat(Task.of(null, List.of("LABEL_0")).problemType()).isEqualTo(Task.REGRESSION);
        assertThat(Task.of("multi_label_classification", List.of("a", "b")).problemType()).isEqualTo(Task.MULTI_LABEL);
        assertThat(Task.of("single_label_classification", List.of("only")).problemType()).isEqualTo(Task.SINGLE_LABEL);
        assertThatThrownBy(() -> Task.of("sequence_tagging", List.of("a"))).hasMessageContaining("problem_type must be");
        assertThatThrownBy(() -> Task.of("regression", List.of("a", "b"))).hasMessageContaining("one output");
    }

    @Test
    void theTaskIsTheSettingThenProblemTypeThenATokenClassificationArchitecture() {
        List<String> tagger = List.of("BertForTokenClassification");
        assertThat(Task.resolve(" regression ", Task.MULTI_LABEL, tagger)).isEqualTo(Task.REGRESSION);
        assertThat(Task.resolve(null, Task.MULTI_LABEL, tagger)).isEqualTo(Task.MULTI_LABEL);
        assertThat(Task.resolve(null, null, tagger)).isEqualTo(Task.TOKEN_CLASSIFICATION);
        assertThat(Task.resolve("", null, List.of("BertForSequenceClassification"))).isNull();
        assertThat(Task.of(Task.resolve(null, null, tagger), List.of("O", "B-X"))).isInstanceOf(TokenClassification.class);
    }

    @Test
    void aRequestSetsATokenClassifiersStrategyAndIgnoredLabelsAndOtherTasksIgnoreThem() {
        Task task = Task.of(Task.TOKEN_CLASSIFICATION, List.of("O", "B-PER", "I-PER"));
        TokenClassification none = (TokenClassification) task.forRequest(java.util.Map.of("aggregation_strategy", "NONE"));
        assertThat(none.aggregation()).isEqualTo(TokenClassification.Aggregation.NONE);
        assertThat(none.ignored()).containsExactly("O");
        // a V2 list parameter arrives as its JSON text, a setting as a comma-separated string
        assertThat(((TokenClassification) task.forRequest(java.util.Map.of("ignore_labels", "[\"O\", \"PER\"]"))).ignored())
                .containsExactlyInAnyOrder("O", "PER");
        assertThat(((TokenClassification) task.forRequest(java.util.Map.of("ignore_labels", "PER, LOC"))).ignored())
                .containsExactlyInAnyOrder("PER", "LOC");
        assertThat(task.forRequest(java.util.Map.of("priority", 2L))).isSameAs(task);
        assertThatThrownBy(() -> task.forRequest(java.util.Map.of("aggregation_strategy", "longest")))
                .isInstanceOf(dev.igate.protocol.InvalidInputException.class).hasMessageContaining("aggregation_strategy").hasMessageContaining("longest");
        assertThatThrownBy(() -> task.forRequest(java.util.Map.of("ignore_labels", "[1]")))
                .isInstanceOf(dev.igate.protocol.InvalidInputException.class).hasMessageContaining("ignore_labels");
        Task single = Task.of(Task.SINGLE_LABEL, List.of("a", "b"));
        assertThat(single.forRequest(java.util.Map.of("aggregation_strategy", "none"))).isSameAs(single);
    }

    @Test
    void multiLabelGivesEveryLabelOverTheThresholdMostProbableFirstOrNone() {
        Task task = Task.of(Task.MULTI_LABEL, List.of("a", "b", "c"));
        // row 0: sigmoid(2) = 0.88, sigmoid(-1) = 0.27, sigmoid(3) = 0.95; row 1: all below 0.5
        List<Prediction> p = task.decode(Outputs.matrix(2, 2, -1, 3, -2, -0.5f, -3), Outputs.texts(2));

        assertThat(p.get(0).labels()).containsExactly("c", "a");
        assertThat(p.get(0).scores()[0]).isCloseTo((float) (1 / (1 + Math.exp(-2))), within(1e-6f));
        assertThat(p.get(1).labels()).isEmpty();
        assertThat(task.v1(p.get(0), false)).isEqualTo(List.of("c", "a"));
        assertThat(task.v1(p.get(1), false)).isEqualTo(List.of());
        assertThat(task.v1(p.get(0), true)).isEqualTo(java.util.Map.of("labels", List.of("c", "a"),
                "probabilities", java.util.Map.of("a", p.get(0).scores()[0], "b", p.get(0).scores()[1], "c", p.get(0).scores()[2])));
        assertThat(p.get(0).scores()[1]).isCloseTo(0.2689f, within(1e-4f));
        assertThat(task.answer(p.get(0))).isEqualTo(List.of("c", "a"));
        assertThat(task.summary(p.get(0))).isEqualTo("c, a");
        assertThat(task.summary(p.get(1))).startsWith("(no label reaches");
    }

    @Test
    void regressionAnswersTheValue() {
        Task task = Task.of(Task.REGRESSION, List.of("score"));
        List<Prediction> p = task.decode(Outputs.matrix(2, 0.25f, -1.5f), Outputs.texts(2));

        assertThat(p.get(1).scores()).containsExactly(-1.5f);
        assertThat(task.v1(p.get(0), false)).isEqualTo(0.25);
        assertThat(task.v1(p.get(0), true)).isEqualTo(java.util.Map.of("score", 0.25f));
        assertThat(task.answer(p.get(1))).isEqualTo(-1.5f);
        assertThatThrownBy(() -> task.decode(Outputs.matrix(1, new float[3]), Outputs.texts(2))).hasMessageContaining("expected [2, 1]");
    }
}
