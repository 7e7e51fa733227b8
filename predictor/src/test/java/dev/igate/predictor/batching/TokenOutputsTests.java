package dev.igate.predictor.batching;

import static org.assertj.core.api.Assertions.assertThat;

import dev.igate.protocol.Tensor;
import org.junit.jupiter.api.Test;

/** Each job of a token batch gets its own rows of the output, per-token outputs cut to its own length. */
class TokenOutputsTests {

    /** A [rows, tokens, 2] output whose value at (r, t, k) is 100 r + 10 t + k. */
    static Tensor perToken(int rows, int tokens) {
        float[] v = new float[rows * tokens * 2];
        for (int r = 0; r < rows; r++) {
            for (int t = 0; t < tokens; t++) {
                for (int k = 0; k < 2; k++) {
                    v[(r * tokens + t) * 2 + k] = 100 * r + 10 * t + k;
                }
            }
        }
        return Tensor.ofFloats("logits", new long[] {rows, tokens, 2}, v);
    }

    @Test
    void aSequenceOutputGivesEachJobItsRows() {
        Tensor batch = Tensor.ofFloats("logits", new long[] {3, 2}, new float[] {0, 1, 10, 11, 20, 21});

        Tensor second = OnnxBatchExecutor.rowsOf(batch, 1, 2, 8, 3);

        assertThat(second.shape()).containsExactly(2, 2);
        assertThat(second.floats()).containsExactly(10, 11, 20, 21);
    }

    @Test
    void aPerTokenOutputIsCutToTheJobsOwnLength() {
        // a batch padded to 4 tokens; the job of rows 1 and 2 was 2 tokens long
        Tensor batch = perToken(3, 4);

        Tensor job = OnnxBatchExecutor.rowsOf(batch, 1, 2, 4, 2);

        assertThat(job.shape()).containsExactly(2, 2, 2);
        assertThat(job.floats()).containsExactly(100, 101, 110, 111, 200, 201, 210, 211);
    }

    @Test
    void aJobAsLongAsTheBatchKeepsEveryToken() {
        Tensor job = OnnxBatchExecutor.rowsOf(perToken(2, 3), 0, 1, 3, 3);

        assertThat(job.shape()).containsExactly(1, 3, 2);
        assertThat(job.floats()).containsExactly(0, 1, 10, 11, 20, 21);
    }
}
