package dev.igate.transformer;

import dev.igate.protocol.Tensor;

/** Model outputs and tokenized texts for task tests. */
final class Outputs {

    private Outputs() {
    }

    /** A {@code [rows, values / rows]} logits output. */
    static Tensor matrix(int rows, float... values) {
        return Tensor.ofFloats("logits", new long[] {rows, values.length / rows}, values);
    }

    /** {@code rows} texts of no tokens: what a sequence task needs beside its output is their count. */
    static TokenBatch texts(int rows) {
        return new TokenBatch(rows, 0, new long[0], new long[0], new long[0], new long[rows][0], new String[rows][0],
                new boolean[rows], new int[rows][0], new int[rows][0], java.util.Collections.nCopies(rows, ""), null, new long[rows][0]);
    }
}
