package dev.igate.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.List;

import dev.igate.protocol.Datatype;
import dev.igate.protocol.Tensor;
import org.junit.jupiter.api.Test;

class TaskTests {

    @Test
    void theTaskFollowsProblemTypeAndASingleOutputIsARegression() {
        assertThat(Task.of(null, List.of("a", "b")).problemType()).isEqualTo(Task.SINGLE_LABEL);
        assertThat(Task.of(null, List.of("LABEL_0")).problemType()).isEqualTo(Task.REGRESSION);
        assertThat(Task.of("multi_label_classification", List.of("a", "b")).problemType()).isEqualTo(Task.MULTI_LABEL);
        assertThat(Task.of("single_label_classification", List.of("only")).problemType()).isEqualTo(Task.SINGLE_LABEL);
        assertThatThrownBy(() -> Task.of("token_classification", List.of("a"))).hasMessageContaining("problem_type must be");
        assertThatThrownBy(() -> Task.of("regression", List.of("a", "b"))).hasMessageContaining("one output");
    }

    @Test
    void multiLabelGivesEveryLabelOverTheThresholdMostProbableFirstOrNone() {
        Task task = Task.of(Task.MULTI_LABEL, List.of("a", "b", "c"));
        // row 0: sigmoid(2) = 0.88, sigmoid(-1) = 0.27, sigmoid(3) = 0.95; row 1: all below 0.5
        List<Prediction> p = task.decode(new float[] {2, -1, 3, -2, -0.5f, -3}, 2);

        assertThat(p.get(0).labels()).containsExactly("c", "a");
        assertThat(p.get(0).scores()[0]).isCloseTo((float) (1 / (1 + Math.exp(-2))), within(1e-6f));
        assertThat(p.get(1).labels()).isEmpty();
        assertThat(task.v1(p.get(0), false).toString()).isEqualTo("[\"c\",\"a\"]");
        assertThat(task.v1(p.get(1), false).toString()).isEqualTo("[]");
        assertThat(task.v1(p.get(0), true).get("labels").size()).isEqualTo(2);
        assertThat(task.v1(p.get(0), true).at("/probabilities/b").floatValue()).isCloseTo(0.2689f, within(1e-4f));
        Tensor t = task.predictionTensor("label", new long[] {2}, p);
        assertThat(t.datatype()).isEqualTo(Datatype.BYTES);
        assertThat(task.summary(p.get(0))).isEqualTo("c, a");
        assertThat(task.summary(p.get(1))).startsWith("(no label reaches");
    }

    @Test
    void regressionAnswersTheValue() {
        Task task = Task.of(Task.REGRESSION, List.of("score"));
        List<Prediction> p = task.decode(new float[] {0.25f, -1.5f}, 2);

        assertThat(p.get(1).scores()).containsExactly(-1.5f);
        assertThat(task.v1(p.get(0), false).floatValue()).isEqualTo(0.25f);
        assertThat(task.v1(p.get(0), true).get("score").floatValue()).isEqualTo(0.25f);
        Tensor t = task.predictionTensor("label", new long[] {2}, p);
        assertThat(t.datatype()).isEqualTo(Datatype.FP32);
        assertThat(t.floats()).containsExactly(0.25f, -1.5f);
        assertThatThrownBy(() -> task.decode(new float[3], 2)).hasMessageContaining("expected 2 x 1 labels");
    }
}
