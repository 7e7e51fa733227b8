package dev.igate.explainer;

/**
 * Integrated-gradients attributions for one input.
 *
 * @param scores          per token: Σ over hidden of (x − x′) · averaged gradient
 * @param delta           Σ scores − (F(x)[target] − F(x′)[target]), the convergence error
 * @param target          class index attributed
 * @param logits          F(x)
 * @param baselineLogits  F(x′)
 * @param gradients       how gradients were obtained: {@code graph} or {@code blackbox}
 * @param steps           quadrature points used
 * @param rows            model rows evaluated
 * @param stepDisagreement black-box method: the relative distance between the scores from steps h and
 *                        h/2 (near 0 for a smooth model; large where the model is not smooth at that
 *                        scale); NaN for the gradient graph
 */
public record Attribution(double[] scores, double delta, int target, float[] logits, float[] baselineLogits,
                          String gradients, int steps, long rows, double stepDisagreement) {
}
