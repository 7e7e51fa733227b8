package dev.igate.transformer;

import java.util.List;

import dev.igate.protocol.Tensor;
import tools.jackson.databind.JsonNode;

/**
 * What a sequence classifier's outputs mean, and every answer that depends on it, in one place:
 * KServe's Model has preprocess, predict, postprocess and explain; the tokenizer preprocesses and
 * the predictor predicts for every task alike, so a task is its postprocessing and what its
 * explanations and answers say. A new task is one class here and a name in {@link #of}.
 *
 * <p>The tasks are HuggingFace's {@code problem_type}s: {@link LabelDecoder single-label}
 * classification (softmax, the most probable label), {@link MultiLabel multi-label} classification
 * (a sigmoid per label, every label over the threshold) and {@link Regression} (one value).
 */
public interface Task {

    String SINGLE_LABEL = "single_label_classification";
    String MULTI_LABEL = "multi_label_classification";
    String REGRESSION = "regression";

    /**
     * The task of a model.
     *
     * @param problemType config.json's problem_type, or null: regression for a single output, else single-label
     * @param labels      the name of each output column, from id2label
     * @throws IllegalArgumentException for another problem type, or outputs that do not fit it
     */
    static Task of(String problemType, List<String> labels) {
        String type = problemType != null ? problemType : labels.size() == 1 ? REGRESSION : SINGLE_LABEL;
        return switch (type) {
            case SINGLE_LABEL -> new LabelDecoder(labels);
            case MULTI_LABEL -> new MultiLabel(labels, MultiLabel.THRESHOLD);
            case REGRESSION -> new Regression(labels);
            default -> throw new IllegalArgumentException("problem_type must be " + SINGLE_LABEL + ", " + MULTI_LABEL
                    + " or " + REGRESSION + ", was " + type);
        };
    }

    /** HuggingFace's name of the task. */
    String problemType();

    /** The name of each output column, in index order. */
    List<String> labels();

    /** Index of an output column by name, or -1. */
    default int indexOf(String label) {
        return labels().indexOf(label);
    }

    /**
     * Decodes a {@code [rows, outputs]} logits matrix.
     *
     * @throws IllegalArgumentException when the logits' width is not the number of outputs
     */
    List<Prediction> decode(float[] logits, int rows);

    /**
     * One text's V1 prediction: the label, the labels, or the value; with {@code detailed}
     * ({@code ?probabilities=true}) an object with the scores of every output too.
     */
    JsonNode v1(Prediction p, boolean detailed);

    /** The V2 output {@code name} of the texts' predictions, of shape {@code rowsShape}. */
    Tensor predictionTensor(String name, long[] rowsShape, List<Prediction> predictions);

    /** The prediction in words, as an explanation reports what the model predicted. */
    String summary(Prediction p);

    /** Checks a {@code [rows, outputs]} logits matrix's width. */
    static void checkWidth(float[] logits, int rows, int width) {
        if (logits.length != rows * width) {
            throw new IllegalArgumentException("logits hold " + logits.length + " values, expected "
                    + rows + " x " + width + " labels");
        }
    }
}
