package dev.igate.transformer;

import java.util.ArrayList;
import java.util.List;

/** Post-processing: logits to softmax probabilities and the argmax label through {@code id2label}. */
public final class LabelDecoder {

    private final List<String> labels;

    /** @param labels label of each class index, as config.json's id2label gives it */
    public LabelDecoder(List<String> labels) {
        if (labels.isEmpty()) {
            throw new IllegalArgumentException("a classifier needs at least one label");
        }
        this.labels = List.copyOf(labels);
    }

    public List<String> labels() {
        return labels;
    }

    /** Index of a label, or -1. */
    public int indexOf(String label) {
        return labels.indexOf(label);
    }

    /**
     * Decodes a {@code [rows, labels]} logits matrix.
     *
     * @throws IllegalArgumentException when the logits' width is not the number of labels
     */
    public List<Prediction> decode(float[] logits, int rows) {
        int width = labels.size();
        if (logits.length != rows * width) {
            throw new IllegalArgumentException("logits hold " + logits.length + " values, expected "
                    + rows + " x " + width + " labels");
        }
        List<Prediction> out = new ArrayList<>(rows);
        for (int r = 0; r < rows; r++) {
            float[] p = softmax(logits, r * width, width);
            int best = argmax(p);
            out.add(new Prediction(best, labels.get(best), p));
        }
        return out;
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
