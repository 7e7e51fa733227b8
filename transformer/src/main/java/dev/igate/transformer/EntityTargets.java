package dev.igate.transformer;

import java.util.List;

import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Json;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;

/**
 * What explaining an entity attributes: the request's {@code entity} (an index into the entities
 * the model found in the text, or {@code {"start", "end", "label"}} in code points), and the
 * weighting of the model's {@code [tokens, labels]} outputs that is the entity's score: its label's
 * logit summed over its tokens, the first token's {@code B-} tag and the others' {@code I-} tag
 * (a label without a prefix on every token; a prefixed label, as aggregation {@code none} names
 * it, as it is).
 */
public final class EntityTargets {

    public static final String PARAMETER = "entity";

    private EntityTargets() {
    }

    /**
     * The entity a request asks to explain: {@code entity} as an index into {@code found}, or as
     * {@code {"start", "end", "label"}}; absent, the first entity found.
     *
     * @throws InvalidInputException for an index past the entities found, a span outside the text, a label the
     *                               model does not have, or no entity to explain
     */
    public static Prediction.Entity choose(Object value, List<Prediction.Entity> found, String text, TokenClassification task) {
        if (value == null) {
            if (found.isEmpty()) {
                throw new InvalidInputException("The model found no entity in \"" + abbreviated(text) + "\": name one to explain as "
                        + "parameters.entity {\"start\", \"end\", \"label\"}");
            }
            return found.get(0);
        }
        String s = value instanceof String str ? str.strip() : null;
        if (value instanceof Number || (s != null && s.matches("-?\\d{1,9}"))) {
            double index = value instanceof Number n ? n.doubleValue() : Long.parseLong(s);
            if (index != Math.rint(index) || index < 0 || index >= found.size()) {
                throw new InvalidInputException("entity " + value + " is not an index of the " + found.size()
                        + " entities found in \"" + abbreviated(text) + "\"");
            }
            return found.get((int) index);
        }
        if (s != null && s.startsWith("{")) {
            JsonNode span;
            try {
                span = Json.MAPPER.readTree(s);
            } catch (JacksonException e) {
                throw new InvalidInputException("entity is not valid JSON: " + s);
            }
            JsonNode start = span.get("start");
            JsonNode end = span.get("end");
            JsonNode label = span.get("label");
            int length = text.codePointCount(0, text.length());
            if (start == null || end == null || !start.canConvertToInt() || !end.canConvertToInt() || label == null || !label.isString()) {
                throw new InvalidInputException("entity must be {\"start\": int, \"end\": int, \"label\": string}, was " + s);
            }
            if (start.intValue() < 0 || end.intValue() <= start.intValue() || end.intValue() > length) {
                throw new InvalidInputException("entity's start and end must be 0 <= start < end <= " + length
                        + " (code points of the text), were " + start.intValue() + " and " + end.intValue());
            }
            String name = label.stringValue();
            if (!task.labels().contains(name) && !task.labels().contains("B-" + name) && !task.labels().contains("I-" + name)) {
                throw new InvalidInputException("entity's label must be one of the model's labels " + task.labels()
                        + " or their groups, was " + name);
            }
            int from = text.offsetByCodePoints(0, start.intValue());
            int to = text.offsetByCodePoints(0, end.intValue());
            return new Prediction.Entity(name, Float.NaN, text.substring(from, to), start.intValue(), end.intValue(), -1);
        }
        throw new InvalidInputException("entity must be an index of the entities found or {\"start\", \"end\", \"label\"}, was " + value);
    }

    /**
     * The entity's weighting of row 0's outputs ({@code tokens x labels}, row-major): 1 on its
     * label's tag at each token its characters cover.
     *
     * @throws InvalidInputException when its characters cover no token of the text (cut off by the model's length)
     */
    public static float[] weights(TokenBatch batch, String text, Prediction.Entity entity, List<String> labels) {
        int seq = batch.ids(0).length;
        int width = labels.size();
        int from = text.offsetByCodePoints(0, entity.start());
        int to = text.offsetByCodePoints(0, entity.end());
        float[] weights = new float[seq * width];
        boolean first = true;
        for (int t = 0; t < seq; t++) {
            int start = batch.charStarts()[0][t];
            int end = batch.charEnds()[0][t];
            if (start < 0 || start >= to || end <= from) {
                continue;
            }
            weights[t * width + tag(labels, entity.label(), first)] = 1;
            first = false;
        }
        if (first) {
            throw new InvalidInputException("The entity \"" + entity.word() + "\" covers no token the model read (its text is cut at "
                    + seq + " tokens)");
        }
        return weights;
    }

    /** The label index of an entity's tag at its first or a later token. */
    private static int tag(List<String> labels, String label, boolean first) {
        if (label.startsWith("B-") || label.startsWith("I-")) {
            return labels.indexOf(label);
        }
        for (String candidate : first ? List.of("B-" + label, "I-" + label, label) : List.of("I-" + label, "B-" + label, label)) {
            int k = labels.indexOf(candidate);
            if (k >= 0) {
                return k;
            }
        }
        throw new InvalidInputException("The model has no label for entities of " + label + ": its labels are " + labels);
    }

    private static String abbreviated(String text) {
        return text.length() <= 60 ? text : text.substring(0, 57) + "...";
    }
}
