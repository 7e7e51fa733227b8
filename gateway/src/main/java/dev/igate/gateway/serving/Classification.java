package dev.igate.gateway.serving;

import java.util.List;

import dev.igate.protocol.Answers;
import dev.igate.protocol.Tensor;
import dev.igate.transformer.Prediction;
import dev.igate.transformer.Task;

/**
 * Texts classified (or scored) by one model version.
 *
 * @param model       model name
 * @param version     version that served them
 * @param task        what the model's outputs mean: labels, and how predictions are answered
 * @param predictions one per text, in request order
 * @param logits      the model's output for the texts, {@code [texts, ...]} as the model shapes it
 */
public record Classification(String model, String version, Task task, List<Prediction> predictions, Tensor logits) {

    public List<String> labels() {
        return task.labels();
    }

    /**
     * The predictions as a V1 answer lists them: a label (or value) each, or with {@code detailed}
     * the label with its probabilities; the one mapping for every transport that answers V1.
     */
    public List<tools.jackson.databind.JsonNode> v1(boolean detailed) {
        return predictions.stream().map(p -> Answers.json(task.v1(p, detailed))).toList();
    }
}
