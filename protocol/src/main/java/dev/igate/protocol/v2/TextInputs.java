package dev.igate.protocol.v2;

import java.util.ArrayList;
import java.util.List;

import dev.igate.protocol.Datatype;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Json;
import dev.igate.protocol.Tensor;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;

/**
 * Reads texts out of a BYTES input. Each element is either plain text or, as TorchServe's
 * KServe examples send it, a JSON document {@code {"text": "..."}} wrapped in the string.
 */
public final class TextInputs {

    private TextInputs() {
    }

    /**
     * @throws InvalidInputException when the tensor is not BYTES, is empty, or a wrapped document lacks "text"
     */
    public static List<String> texts(Tensor input) {
        if (input.datatype() != Datatype.BYTES) {
            throw new InvalidInputException("Input " + input.name() + " must be BYTES text, was " + input.datatype());
        }
        if (input.size() == 0) {
            throw new InvalidInputException("Input " + input.name() + " holds no text");
        }
        List<String> texts = new ArrayList<>(input.size());
        for (String element : input.strings()) {
            texts.add(unwrap(input.name(), element));
        }
        return texts;
    }

    static String unwrap(String name, String element) {
        String s = element.strip();
        if (!s.startsWith("{") || !s.endsWith("}")) {
            return element;
        }
        JsonNode doc;
        try {
            doc = Json.MAPPER.readTree(s);
        } catch (JacksonException e) {
            return element;
        }
        JsonNode text = doc.get("text");
        if (text == null || !text.isString()) {
            throw new InvalidInputException("Input " + name + " holds a JSON document without a string \"text\"");
        }
        return text.stringValue();
    }
}
