package dev.igate.protocol.compat;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Json;
import dev.igate.protocol.TextRows;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * Bodies of text-embeddings-inference's {@code POST /predict} and {@code POST /rerank}, so a
 * client written for TEI works against {@code /tei/{model}/}: the inputs' shapes as TEI reads them
 * (a string, {@code [text]}, a pair {@code [text, text_pair]}, or a batch of those as arrays), its
 * answers (every label with its score, highest first; {@code [{"index", "score", "text"?}]}) and
 * its error body {@code {"error", "error_type"}}.
 */
public final class TeiCodec {

    private TeiCodec() {
    }

    /**
     * A {@code /predict} request.
     *
     * @param rows      the texts, or pairs of texts
     * @param batch     whether {@code inputs} was a batch (answered as a list of lists)
     * @param truncate  whether too long inputs are cut (TEI's {@code truncate}; absent: true, its auto-truncate)
     * @param rawScores answer the logits instead of a softmax (several labels) or sigmoid (one)
     * @param fromLeft  cut too long inputs from their start ({@code truncation_direction: Left})
     */
    public record Predict(TextRows rows, boolean batch, boolean truncate, boolean rawScores, boolean fromLeft) {
    }

    /** A {@code /rerank} request. */
    public record Rerank(String query, List<String> texts, boolean truncate, boolean rawScores, boolean returnText,
                         boolean fromLeft) {
    }

    /**
     * @throws InvalidInputException for inputs of another shape, a batch that mixes single texts and pairs, or
     *                               fields of the wrong type
     */
    public static Predict decodePredict(byte[] body) {
        ObjectNode root = Json.parseObject(body);
        JsonNode inputs = root.get("inputs");
        if (inputs == null || inputs.isNull()) {
            throw new InvalidInputException("missing field `inputs`");
        }
        List<String> texts = new ArrayList<>();
        List<String> pairs = new ArrayList<>();
        boolean batch = inputs.isArray() && !inputs.isEmpty() && inputs.get(0).isArray();
        if (batch) {
            for (JsonNode item : inputs) {
                if (!item.isArray()) {
                    throw new InvalidInputException("`inputs` mixes arrays and strings: a batch is an array of [text] or "
                            + "[text, text_pair] arrays");
                }
                one(item, texts, pairs);
            }
        } else {
            one(inputs, texts, pairs);
        }
        return new Predict(TextRows.mixed(texts, pairs, "input of the batch"), batch, truncate(root), flag(root, "raw_scores"),
                fromLeft(root));
    }

    /** One input: a string, {@code [text]} or {@code [text, text_pair]}. */
    private static void one(JsonNode input, List<String> texts, List<String> pairs) {
        if (input.isString()) {
            texts.add(input.stringValue());
            pairs.add(null);
            return;
        }
        if (input.isArray() && (input.size() == 1 || input.size() == 2) && allStrings(input)) {
            texts.add(input.get(0).stringValue());
            pairs.add(input.size() == 2 ? input.get(1).stringValue() : null);
            return;
        }
        throw new InvalidInputException("`inputs` must be a string, [text], [text, text_pair], or an array of the last two; got "
                + (input.isArray() ? "an array of " + input.size() : input.getNodeType().name().toLowerCase(java.util.Locale.ROOT)));
    }

    private static boolean allStrings(JsonNode array) {
        for (JsonNode n : array) {
            if (!n.isString()) {
                return false;
            }
        }
        return true;
    }

    /**
     * @throws InvalidInputException for a missing query or texts, or fields of the wrong type
     */
    public static Rerank decodeRerank(byte[] body) {
        ObjectNode root = Json.parseObject(body);
        JsonNode query = root.get("query");
        if (query == null || !query.isString()) {
            throw new InvalidInputException("`query` must be a string");
        }
        JsonNode texts = root.get("texts");
        if (texts == null || !texts.isArray() || !allStrings(texts)) {
            throw new InvalidInputException("`texts` must be an array of strings");
        }
        List<String> list = new ArrayList<>(texts.size());
        texts.forEach(t -> list.add(t.stringValue()));
        return new Rerank(query.stringValue(), list, truncate(root), flag(root, "raw_scores"), flag(root, "return_text"),
                fromLeft(root));
    }

    /** TEI's {@code truncation_direction}: Right (the default) or Left, in either case. */
    private static boolean fromLeft(ObjectNode root) {
        JsonNode direction = root.get("truncation_direction");
        if (direction == null || direction.isNull()) {
            return false;
        }
        String d = direction.isString() ? direction.stringValue() : direction.toString();
        if (!d.equalsIgnoreCase("left") && !d.equalsIgnoreCase("right")) {
            throw new InvalidInputException("truncation_direction must be Right or Left, was " + d);
        }
        return d.equalsIgnoreCase("left");
    }

    /** TEI's {@code truncate}: absent or null, true (its auto-truncate). */
    private static boolean truncate(ObjectNode root) {
        JsonNode truncate = root.get("truncate");
        if (truncate == null || truncate.isNull()) {
            return true;
        }
        if (!truncate.isBoolean()) {
            throw new InvalidInputException("`truncate` must be true or false");
        }
        return truncate.booleanValue();
    }

    private static boolean flag(ObjectNode root, String name) {
        JsonNode value = root.get(name);
        if (value == null || value.isNull()) {
            return false;
        }
        if (!value.isBoolean()) {
            throw new InvalidInputException("`" + name + "` must be true or false");
        }
        return value.booleanValue();
    }

    /**
     * The {@code /predict} answer: per row, every label with its score, highest first; a list for a
     * single input, a list of lists for a batch.
     *
     * @param logits {@code [rows, labels]}
     */
    public static byte[] encodePredict(List<String> labels, float[] logits, int rows, boolean batch, boolean rawScores) {
        int width = labels.size();
        Scores.Function f = rawScores ? Scores.Function.NONE : width == 1 ? Scores.Function.SIGMOID : Scores.Function.SOFTMAX;
        List<List<Map<String, Object>>> out = new ArrayList<>(rows);
        for (int r = 0; r < rows; r++) {
            out.add(Scores.ranked(labels, Scores.apply(logits, r, width, f), width, true));
        }
        return Json.writeValue(batch ? out : out.get(0));
    }

    /** TEI's error body. */
    public static byte[] error(String message, String type) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("error", message);
        out.put("error_type", type);
        return Json.writeValue(out);
    }
}
