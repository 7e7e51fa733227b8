package dev.igate.transformer;

import java.util.ArrayList;
import java.util.List;

import dev.igate.protocol.Tensor;

/** Regression ({@code problem_type: regression}, or a single output): the model's one output is the answer. */
public final class Regression implements Task {

    private final List<String> labels;

    /** @param labels the one output's name (id2label's, "LABEL_0" in HuggingFace's exports) */
    public Regression(List<String> labels) {
        if (labels.size() != 1) {
            throw new IllegalArgumentException("a regression model has one output, id2label names " + labels.size());
        }
        this.labels = List.copyOf(labels);
    }

    @Override
    public String problemType() {
        return REGRESSION;
    }

    @Override
    public List<String> labels() {
        return labels;
    }

    @Override
    public List<Prediction> decode(Tensor output, TokenBatch tokens) {
        int rows = tokens.rows();
        float[] logits = Task.matrix(output, rows, 1);
        List<Prediction> out = new ArrayList<>(rows);
        for (int r = 0; r < rows; r++) {
            out.add(new Prediction(0, labels.get(0), new float[] {logits[r]}, List.of()));
        }
        return out;
    }

    @Override
    public Object v1(Prediction p, boolean detailed) {
        if (!detailed) {
            return (double) p.scores()[0];
        }
        return java.util.Map.of("score", p.scores()[0]);
    }

    /** The value (an FP32 output). */
    @Override
    public Object answer(Prediction p) {
        return p.scores()[0];
    }

    @Override
    public String summary(Prediction p) {
        return Float.toString(p.scores()[0]);
    }
}
