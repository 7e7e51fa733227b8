package dev.igate.protocol;

import java.util.LinkedHashMap;
import java.util.Map;

import tools.jackson.core.JacksonException;
import tools.jackson.core.StreamReadFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;

/** The JSON mapper every codec shares, and the few tree helpers they have in common. */
public final class Json {

    /** Duplicate keys are rejected: a body with two "inputs" is ambiguous, not last-one-wins. */
    public static final JsonMapper MAPPER = JsonMapper.builder(tools.jackson.core.json.JsonFactory.builder()
                    // buffers recycled per thread: the event loops and stage threads are few and long-lived, and the
                    // default shared deque cost a measurable share of each small answer's encoding
                    .recyclerPool(tools.jackson.core.util.JsonRecyclerPools.threadLocalPool())
                    .build())
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();

    private Json() {
    }

    /**
     * Parses a request body that must be a JSON object.
     *
     * @throws InvalidInputException for an empty body, malformed JSON or a non-object document
     */
    public static ObjectNode parseObject(byte[] body) {
        if (body == null || body.length == 0) {
            throw new InvalidInputException("Request body is empty, expected a JSON object");
        }
        JsonNode node;
        try {
            node = MAPPER.readTree(body);
        } catch (JacksonException e) {
            throw new InvalidInputException("Malformed JSON: " + e.getOriginalMessage());
        }
        if (node == null || !node.isObject()) {
            throw new InvalidInputException("Request body must be a JSON object");
        }
        return (ObjectNode) node;
    }

    public static ObjectNode object() {
        return JsonNodeFactory.instance.objectNode();
    }

    public static tools.jackson.databind.node.ArrayNode array() {
        return JsonNodeFactory.instance.arrayNode();
    }

    public static byte[] write(JsonNode node) {
        return MAPPER.writeValueAsBytes(node);
    }

    /** JSON written straight by a generator with the shared mapper's settings (no tree in between), as bytes. */
    public static byte[] stream(java.util.function.Consumer<tools.jackson.core.JsonGenerator> writer) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(256);
        try (tools.jackson.core.JsonGenerator g = MAPPER.createGenerator(out)) {
            writer.accept(g);
        }
        return out.toByteArray();
    }

    /** Writes a value the mapper knows how to write (a record of a wire answer, a map, a list). */
    public static byte[] writeValue(Object value) {
        return MAPPER.writeValueAsBytes(value);
    }

    /** Every error answer: {@code {"error": message}}. */
    public record Error(String error) {
    }

    public static byte[] error(String message) {
        return writeValue(new Error(message));
    }

    /** A parameters object as plain Java values: strings, booleans, numbers; anything else as its JSON text. */
    public static Map<String, Object> parameters(JsonNode node, String where) {
        Map<String, Object> out = new LinkedHashMap<>();
        if (node == null || node.isNull()) {
            return out;
        }
        if (!node.isObject()) {
            throw new InvalidInputException(where + " parameters must be a JSON object");
        }
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            JsonNode v = e.getValue();
            Object value;
            if (v.isString()) {
                value = v.stringValue();
            } else if (v.isBoolean()) {
                value = v.booleanValue();
            } else if (v.isIntegralNumber() && v.canConvertToLong()) {
                value = v.longValue();
            } else if (v.isNumber()) {
                value = v.doubleValue();
            } else {
                value = v.toString();
            }
            out.put(e.getKey(), value);
        }
        return out;
    }

    /**
     * A parameter that lists strings, as {@link #parameters} keeps it: a JSON array's text, or one
     * comma-separated string (blank entries dropped).
     *
     * @throws InvalidInputException naming the parameter when the array holds anything but strings
     */
    public static java.util.List<String> stringList(Object value, String name) {
        String text = String.valueOf(value).trim();
        java.util.List<String> out = new java.util.ArrayList<>();
        if (text.startsWith("[")) {
            JsonNode array;
            try {
                array = MAPPER.readTree(text);
            } catch (JacksonException e) {
                throw new InvalidInputException(name + " is not a JSON list of strings: " + text);
            }
            for (JsonNode n : array) {
                if (!n.isString()) {
                    throw new InvalidInputException(name + " must list strings, got " + n);
                }
                out.add(n.stringValue());
            }
            return out;
        }
        for (String part : text.split(",")) {
            if (!part.isBlank()) {
                out.add(part.trim());
            }
        }
        return out;
    }

    /**
     * A JSON array of texts, each non-blank.
     *
     * @throws InvalidInputException naming {@code name} when it is not a non-empty array of non-blank strings
     */
    public static java.util.List<String> texts(JsonNode array, String name) {
        if (array == null || !array.isArray() || array.isEmpty()) {
            throw new InvalidInputException(name + " must be a non-empty list of texts");
        }
        java.util.List<String> out = new java.util.ArrayList<>(array.size());
        for (JsonNode n : array) {
            if (!n.isString() || n.stringValue().isBlank()) {
                throw new InvalidInputException(name + " must list non-blank texts, got " + n);
            }
            out.add(n.stringValue().strip());
        }
        return out;
    }

    /** Writes a parameters map back as a JSON object. */
    public static ObjectNode toNode(Map<String, Object> params) {
        ObjectNode n = object();
        params.forEach((k, v) -> n.set(k, MAPPER.valueToTree(v)));
        return n;
    }
}
