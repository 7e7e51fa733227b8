package dev.igate.protocol;

import java.nio.charset.StandardCharsets;
import java.util.List;

import tools.jackson.databind.JsonNode;

/**
 * Renders a task's answers, given in plain values (strings, numbers, booleans, lists and maps of
 * them), for the wire: as JSON for V1 bodies, and as a V2 tensor (FP32 when every answer is a
 * number, else BYTES, each string as it is and each structure as its JSON text). The one place
 * where answers meet their encodings, so a task never builds JSON or protobuf.
 */
public final class Answers {

    private Answers() {
    }

    /** An answer as a JSON tree. */
    public static JsonNode json(Object answer) {
        return Json.MAPPER.valueToTree(answer);
    }

    /** One answer per element of {@code shape}, as an output tensor. */
    public static Tensor tensor(String name, long[] shape, List<?> answers) {
        if (!answers.isEmpty() && answers.stream().allMatch(Number.class::isInstance)) {
            float[] values = new float[answers.size()];
            for (int i = 0; i < values.length; i++) {
                values[i] = ((Number) answers.get(i)).floatValue();
            }
            return Tensor.ofFloats(name, shape, values);
        }
        return Tensor.ofStrings(name, shape, answers.stream().map(a -> a instanceof String s ? s
                : new String(Json.MAPPER.writeValueAsBytes(a), StandardCharsets.UTF_8)).toArray(String[]::new));
    }
}
