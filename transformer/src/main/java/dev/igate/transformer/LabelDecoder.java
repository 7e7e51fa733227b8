package dev.igate.transformer;

import java.util.ArrayList;
import java.util.List;

import dev.igate.protocol.Tensor;

/**
 * Single-label classification, the default task: logits to softmax probabilities and the argmax
 * label through {@code id2label}.
 */
public final class LabelDecoder implements Task {

    private final List<String> labels;

    /** @param labels label of each class index, as config.json's id2label gives it */
    public LabelDecoder(List<String> labels) {
        if (labels.isEmpty()) {
            throw new IllegalArgumentException("a classifier needs at least one label");
        }
        this.labels = List.copyOf(labels);
    }

    @Override
    public String problemType() {
        return SINGLE_LABEL;
    }

    @Override
    public List<String> labels() {
        return labels;
    }

    @Override
    public List<Prediction> decode(Tensor output, TokenBatch tokens) {
        int rows = tokens.rows();
        int width = labels.size();
        float[] logits = Task.matrix(output, rows, width);
        List<Prediction> out = new ArrayList<>(rows);
        for (int r = 0; r < rows; r++) {
            float[] p = softmax(logits, r * width, width);
            int best = argmax(p);
            out.add(new Prediction(best, labels.get(best), p, List.of(labels.get(best))));
        }
        return out;
    }

    @Override
    public Object v1(Prediction p, boolean detailed) {
        if (!detailed) {
            return p.label();
        }
        java.util.Map<String, Object> o = new java.util.LinkedHashMap<>();
        o.put("label", p.label());
        o.put("probabilities", Task.byLabel(labels, p.scores()));
        return o;
    }

    /** The label (a BYTES output). */
    @Override
    public Object answer(Prediction p) {
        return p.label();
    }

    @Override
    public String summary(Prediction p) {
        return p.label();
    }

    /** Index of the largest value (the first one on ties). */
    public static int argmax(float[] values) {
        int best = 0;
        for (int i = 1; i < values.length; i++) {
            if (values[i] > values[best]) {
                best = i;
            }
        }
        return best;
    }

    /** Numerically stable softmax of {@code width} values starting at {@code offset}. */
    public static float[] softmax(float[] x, int offset, int width) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < width; j++) {
            max = Math.max(max, x[offset + j]);
        }
        double sum = 0;
        double[] e = new double[width];
        for (int j = 0; j < width; j++) {
            e[j] = Math.exp(x[offset + j] - max);
            sum += e[j];
        }
        float[] p = new float[width];
        for (int j = 0; j < width; j++) {
            p[j] = (float) (e[j] / sum);
        }
        return p;
    }
}
