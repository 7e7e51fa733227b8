package dev.igate.transformer;

import java.util.ArrayList;
import java.util.List;

import dev.igate.protocol.Json;
import dev.igate.protocol.Tensor;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.DoubleNode;
import tools.jackson.databind.node.ObjectNode;

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
    public List<Prediction> decode(float[] logits, int rows) {
        Task.checkWidth(logits, rows, 1);
        List<Prediction> out = new ArrayList<>(rows);
        for (int r = 0; r < rows; r++) {
            out.add(new Prediction(0, labels.get(0), new float[] {logits[r]}, List.of()));
        }
        return out;
    }

    @Override
    public JsonNode v1(Prediction p, boolean detailed) {
        if (!detailed) {
            return DoubleNode.valueOf(p.scores()[0]);
        }
        ObjectNode o = Json.object();
        o.put("score", p.scores()[0]);
        return o;
    }

    /** The values, FP32. */
    @Override
    public Tensor predictionTensor(String name, long[] rowsShape, List<Prediction> predictions) {
        float[] values = new float[predictions.size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = predictions.get(i).scores()[0];
        }
        return Tensor.ofFloats(name, rowsShape, values);
    }

    @Override
    public String summary(Prediction p) {
        return Float.toString(p.scores()[0]);
    }
}
