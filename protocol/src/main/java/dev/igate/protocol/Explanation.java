package dev.igate.protocol;

import java.util.List;

/**
 * Integrated-gradients explanation of one text, as the explain endpoints return it.
 *
 * @param words         tokens, or whole words when sub-words were merged
 * @param importances   attribution per word divided by the L2 norm over words
 * @param delta         convergence delta: Σ attributions − (F(x)[t] − F(x′)[t])
 * @param target        label attributed
 * @param targetIndex   its class index
 * @param prediction    predicted label
 * @param labels        every label, in class order
 * @param probabilities softmax of F(x), in class order
 * @param attributions  raw attribution per word (before normalisation)
 * @param method        quadrature: gausslegendre or riemann_trapezoid
 * @param gradients     graph or blackbox
 * @param steps         quadrature points
 * @param millis        time spent attributing
 * @param approximation why the attributions are only approximate (finite-difference gradients, or a
 *                      convergence delta large against the logit change), or null when they are exact
 *                      up to the quadrature
 * @param segments      for a pair of texts, which text each word is from (0 the text, 1 its pair; -1 a special
 *                      token kept unmerged), else null
 * @param explainer     the attribution method: integrated_gradients, gradient_x_input, saliency, occlusion or shap
 * @param starts        each word's first character in the text it is from, a code point index (as Python counts);
 *                      -1 for a special token
 * @param ends          past each word's last character, likewise
 * @param faithfulness  ERASER's measures of this explanation ({@code evaluate: true}), or null
 * @param contrast      the label contrasted with the target ({@code contrast_with}: the attributions are of
 *                      {@code logit[target] - logit[contrast]}), or null
 * @param evaluations   model rows the attribution ran (path points, perturbed texts, coalitions)
 * @param baselines     the baselines the attributions are of (averaged over them when several)
 */
public record Explanation(List<String> words, double[] importances, double delta, String target, int targetIndex,
                          String prediction, List<String> labels, float[] probabilities, double[] attributions,
                          String method, String gradients, int steps, double millis, String approximation, int[] segments,
                          String explainer, int[] starts, int[] ends, Faithfulness faithfulness, String contrast,
                          long evaluations, List<String> baselines) {

    /**
     * ERASER's faithfulness of an explanation: comprehensiveness and sufficiency averaged over the
     * top 1, 5, 10, 20 and 50% of the words (AOPC), and the Spearman correlation of the words'
     * attributions with their leave-one-out drops.
     *
     * @param evaluations forward passes spent on them
     */
    public record Faithfulness(double comprehensiveness, double sufficiency, double leaveOneOutSpearman, int evaluations) {
    }

    /** This explanation with its faithfulness measured. */
    public Explanation withFaithfulness(Faithfulness measured) {
        return new Explanation(words, importances, delta, target, targetIndex, prediction, labels, probabilities, attributions, method,
                gradients, steps, millis, approximation, segments, explainer, starts, ends, measured, contrast, evaluations, baselines);
    }

    /** This explanation as the answer to another question about the same forward pass: zero-shot's label, rerank's score. */
    public Explanation answering(String target, String prediction, List<String> labels, float[] probabilities) {
        return new Explanation(words, importances, delta, target, targetIndex, prediction, labels, probabilities, attributions, method,
                gradients, steps, millis, approximation, segments, explainer, starts, ends, faithfulness, contrast, evaluations, baselines);
    }

    /** Whether the method's attributions are meant to sum to the target's change (integrated gradients): then delta says how far. */
    public boolean hasDelta() {
        return !Double.isNaN(delta);
    }

    /** Whether the answer is approximate: then {@link #approximation} says why. */
    public boolean approximate() {
        return approximation != null;
    }
}
