package dev.igate.gateway.serving;

import java.util.List;

import dev.igate.transformer.Prediction;

/**
 * Texts classified by one model version.
 *
 * @param model       model name
 * @param version     version that served them
 * @param labels      the model's labels by class index
 * @param predictions one per text, in request order
 * @param logits      {@code [texts, labels]} row-major
 */
public record Classification(String model, String version, List<String> labels, List<Prediction> predictions,
                             float[] logits) {
}
