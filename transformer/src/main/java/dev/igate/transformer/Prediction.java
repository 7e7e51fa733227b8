package dev.igate.transformer;

import java.util.List;

/**
 * One row's prediction, as its {@link Task} decodes it.
 *
 * @param index  index of the top output (the most probable class; 0 for regression)
 * @param label  its label
 * @param scores per output, in index order: softmax probabilities (single-label), a sigmoid per
 *               label (multi-label), or the value (regression)
 * @param labels the labels predicted: the top one (single-label), every one over the threshold,
 *               most probable first (multi-label), none (regression)
 */
public record Prediction(int index, String label, float[] scores, List<String> labels) {
}
