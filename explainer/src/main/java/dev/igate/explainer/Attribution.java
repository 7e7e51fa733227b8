package dev.igate.explainer;

/**
 * Integrated-gradients attributions for one input.
 *
 * @param scores          per token: Σ over hidden of (x − x′) · averaged gradient
 * @param delta           Σ scores − change, the convergence error
 * @param target          class index attributed, -1 for a weighted objective
 * @param logits          F(x)
 * @param baselineLogits  F(x′)
 * @param gradients       how gradients were obtained: {@code graph} or {@code blackbox}
 * @param steps           quadrature points used
 * @param rows            model rows evaluated
 * @param stepDisagreement black-box method: the relative distance between the scores from steps h and
 *                        h/2 (near 0 for a smooth model; large where the model is not smooth at that
 *                        scale); NaN for the gradient graph
 * @param change          what the attributions sum to without error: the objective at the input minus at the
 *                        baseline (the target logit's F(x)[t] − F(x′)[t], or an entity's weighted sum's)
 */
public record Attribution(double[] scores, double delta, int target, float[] logits, float[] baselineLogits,
                          String gradients, int steps, long rows, double stepDisagreement, double change) {
}
