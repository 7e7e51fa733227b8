package dev.igate.protocol.compat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Json;
import dev.igate.protocol.TextRows;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * The HuggingFace Inference API's request body, {@code {"inputs": ..., "parameters": {...}}}, as
 * {@code huggingface_hub}'s {@code InferenceClient} posts it to a URL given as its model:
 * {@code inputs} a text, {@code {"text", "text_pair"}}, or a list of either (a batch).
 */
public final class HfInferenceCodec {

    private HfInferenceCodec() {
    }

    /**
     * @param rows       the texts, or pairs of texts
     * @param batch      whether {@code inputs} was a list (answered as one list per input)
     * @param parameters the task's parameters
     */
    public record Request(TextRows rows, boolean batch, Map<String, Object> parameters) {
    }

    /**
     * @throws InvalidInputException for inputs of another shape, or parameters that are not an object
     */
    public static Request decode(byte[] body) {
        ObjectNode root = Json.parseObject(body);
        JsonNode inputs = root.get("inputs");
        if (inputs == null || inputs.isNull()) {
            throw new InvalidInputException("\"inputs\" is missing: send {\"inputs\": \"text\", \"parameters\": {...}}");
        }
        List<String> texts = new ArrayList<>();
        List<String> pairs = new ArrayList<>();
        boolean batch = inputs.isArray();
        if (batch) {
            if (inputs.isEmpty()) {
                throw new InvalidInputException("\"inputs\" is an empty list");
            }
            inputs.forEach(input -> one(input, texts, pairs));
        } else {
            one(inputs, texts, pairs);
        }
        return new Request(TextRows.mixed(texts, pairs, "input"), batch, Json.parameters(root.get("parameters"), "Request"));
    }

    private static void one(JsonNode input, List<String> texts, List<String> pairs) {
        if (input.isString()) {
            texts.add(input.stringValue());
            pairs.add(null);
            return;
        }
        if (input.isObject() && input.path("text").isString()) {
            JsonNode pair = input.get("text_pair");
            if (pair != null && !pair.isNull() && !pair.isString()) {
                throw new InvalidInputException("\"text_pair\" must be a string");
            }
            texts.add(input.get("text").stringValue());
            pairs.add(pair == null || pair.isNull() ? null : pair.stringValue());
            return;
        }
        throw new InvalidInputException("Each of \"inputs\" must be a string or {\"text\": ..., \"text_pair\": ...}");
    }

    /** One answer per input: the single input's answer itself, or the list of them for a batch. */
    public static byte[] encode(List<?> answers, boolean batch) {
        return Json.writeValue(batch ? answers : answers.get(0));
    }
}
