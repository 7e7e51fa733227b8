package dev.igate.protocol.v1;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import dev.igate.protocol.Explanation;

import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Json;
import dev.igate.protocol.TextRows;
import dev.igate.protocol.v2.V2Codec;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * Reads and writes KServe V1 bodies for text models: {@code {"instances": ["text", ...]}} or
 * {@code {"instances": [{"text": "..."}, ...]}} in (pairs as {@code {"text": ..., "text_pair": ...}}),
 * {@code {"predictions": [...]}} out.
 */
public final class V1Codec {

    private V1Codec() {
    }

    /**
     * Decodes the texts of a predict or explain request.
     *
     * @throws InvalidInputException when the body is not a V1 request of texts
     */
    public static List<String> decodeTexts(byte[] body) {
        return rows(Json.parseObject(body)).texts();
    }

    /** A V1 predict or explain: its texts (pairs of texts) and its {@code parameters} (a task's options, such as {@code aggregation_strategy}). */
    public record Request(TextRows rows, Map<String, Object> parameters) {
    }

    /**
     * Decodes a predict or explain body, read once: its texts and parameters.
     *
     * @throws InvalidInputException as {@link #decodeTexts}, for instances some with a {@code text_pair} and
     *                               some without, and for parameters that are not an object
     */
    public static Request decodeRequest(byte[] body) {
        ObjectNode root = Json.parseObject(body);
        return new Request(rows(root), Json.parameters(root.get("parameters"), "Request"));
    }

    private static TextRows rows(ObjectNode root) {
        JsonNode instances = root.has("instances") ? root.get("instances") : root.get("inputs");
        if (instances == null || !instances.isArray() || instances.isEmpty()) {
            throw new InvalidInputException("\"instances\" must be a non-empty array of texts or {\"text\": ...} objects");
        }
        List<String> texts = new ArrayList<>(instances.size());
        List<String> pairs = new ArrayList<>(instances.size());
        for (JsonNode instance : instances) {
            texts.add(text(instance));
            pairs.add(pair(instance));
        }
        return TextRows.mixed(texts, pairs, "instance");
    }

    private static String text(JsonNode instance) {
        if (instance.isString()) {
            return instance.stringValue();
        }
        if (instance.isObject()) {
            JsonNode t = instance.has("text") ? instance.get("text") : instance.get("data");
            if (t != null && t.isString()) {
                return t.stringValue();
            }
        }
        throw new InvalidInputException("Every instance must be a string or an object with a string \"text\"");
    }

    /** An instance's {@code text_pair}, or null. */
    private static String pair(JsonNode instance) {
        JsonNode pair = instance.isObject() ? instance.get("text_pair") : null;
        if (pair == null || pair.isNull()) {
            return null;
        }
        if (!pair.isString()) {
            throw new InvalidInputException("An instance's \"text_pair\" must be a string");
        }
        return pair.stringValue();
    }

    /** Encodes {@code {"predictions": [...]}} from already-built JSON values. */
    public static byte[] encodePredictions(List<? extends JsonNode> predictions) {
        ObjectNode root = Json.object();
        ArrayNode list = root.putArray("predictions");
        predictions.forEach(list::add);
        return Json.write(root);
    }

    /** Encodes {@code {"predictions": [labels], "explanations": [...]}}. */
    public static byte[] encodeExplanations(List<Explanation> explanations) {
        ObjectNode root = Json.object();
        ArrayNode predictions = root.putArray("predictions");
        ArrayNode list = root.putArray("explanations");
        for (Explanation e : explanations) {
            predictions.add(e.prediction());
            ObjectNode o = V2Codec.explanationCore(list.addObject(), e);
            ArrayNode attributions = o.putArray("attributions");
            for (double v : e.attributions()) {
                attributions.add(v);
            }
            o.put("target_index", e.targetIndex());
            ObjectNode probabilities = o.putObject("probabilities");
            for (int i = 0; i < e.labels().size(); i++) {
                probabilities.put(e.labels().get(i), e.probabilities()[i]);
            }
            o.put("method", e.method());
            o.put("gradients", e.gradients());
            o.put("n_steps", e.steps());
            o.put("explain_ms", e.millis());
        }
        return Json.write(root);
    }
}
