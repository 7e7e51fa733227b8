package dev.igate.transformer;

/**
 * One row's classification.
 *
 * @param index         index of the most probable class
 * @param label         its label
 * @param probabilities softmax over the row's logits, in class-index order
 */
public record Prediction(int index, String label, float[] probabilities) {
}
