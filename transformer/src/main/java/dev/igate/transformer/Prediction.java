package dev.igate.transformer;

import java.util.List;

/**
 * One row's prediction, as its {@link Task} decodes it.
 *
 * @param index    index of the top output (the most probable class; 0 for regression)
 * @param label    its label
 * @param scores   per output, in index order: softmax probabilities (single-label), a sigmoid per
 *                 label (multi-label), the value (regression), each label's highest probability
 *                 over the text's tokens (token classification)
 * @param labels   the labels predicted: the top one (single-label), every one over the threshold,
 *                 most probable first (multi-label), none (regression), each entity's (token
 *                 classification)
 * @param entities the entities found in the text, in text order (token classification); else none
 * @param text     the text the prediction is about where its answer quotes it (zero-shot's {@code sequence},
 *                 rerank's {@code text}), else null
 */
public record Prediction(int index, String label, float[] scores, List<String> labels, List<Entity> entities, String text) {

    /** A prediction of a whole text, without entities. */
    public Prediction(int index, String label, float[] scores, List<String> labels) {
        this(index, label, scores, labels, List.of(), null);
    }

    /** A prediction with the entities found in its text. */
    public Prediction(int index, String label, float[] scores, List<String> labels, List<Entity> entities) {
        this(index, label, scores, labels, entities, null);
    }

    /**
     * A span of the text and its label, as HuggingFace's token-classification pipeline answers:
     * {@code text.substring(start, end)} in code points (Python's indexing) is {@code word}.
     *
     * @param label the entity (a token's label, aggregation {@code none}) or entity group (the label
     *              without its B-/I- prefix)
     * @param score its probability (averaged over a group's tokens)
     * @param word  the text it covers
     * @param start its first character, a code point index into the text
     * @param end   past its last character
     * @param token the token's index in the encoded text (aggregation {@code none}), else -1
     */
    public record Entity(String label, float score, String word, int start, int end, int token) {
    }
}
