package dev.igate.explainer;

/**
 * What an attribution explains: one class logit of a {@code [batch, classes]} output, or a weighted
 * sum of a row's outputs (a token classifier's {@code [tokens, labels]}: an entity is its label's
 * logits summed over its tokens; a contrast, {@code logit[target] - logit[other]}).
 *
 * @param target  the class index, -1 for the predicted class; with weights, the class they favour or -1
 * @param weights per output of one row (flattened), or null for a class
 */
public record Objective(int target, float[] weights) {

    /** A class logit (-1: the predicted class). */
    public static Objective ofClass(int target) {
        return new Objective(target, null);
    }

    /** A weighted sum of one row's outputs. */
    public static Objective ofWeights(float[] weights) {
        return new Objective(-1, weights.clone());
    }

    /** A contrast of classes: weights over the classes, the target the one they favour. */
    public static Objective ofContrast(int target, float[] weights) {
        return new Objective(target, weights.clone());
    }

    public boolean weighted() {
        return weights != null;
    }

    /** The objective's value on the row of {@code outputs} starting at {@code offset}. */
    double value(float[] outputs, int offset) {
        if (weights == null) {
            return outputs[offset + target];
        }
        double sum = 0;
        for (int k = 0; k < weights.length; k++) {
            sum += weights[k] * outputs[offset + k];
        }
        return sum;
    }
}
