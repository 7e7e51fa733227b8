package dev.igate.protocol.v2;

import java.util.ArrayList;
import java.util.List;

import dev.igate.protocol.Datatype;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Json;
import dev.igate.protocol.Tensor;
import dev.igate.protocol.TextRows;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;

/**
 * Reads texts out of a BYTES input. Each element is either plain text or, as TorchServe's
 * KServe examples send it, a JSON document {@code {"text": "..."}} wrapped in the string; a pair
 * of texts is {@code {"text": "...", "text_pair": "..."}}, or its second texts come as a second
 * BYTES input named {@code text_pair}.
 */
public final class TextInputs {

    private TextInputs() {
    }

    /**
     * @throws InvalidInputException when the tensor is not BYTES, is empty, or a wrapped document lacks "text"
     */
    public static List<String> texts(Tensor input) {
        return rows(input, null).texts();
    }

    /** The name of the second input of pairs. */
    public static final String PAIR_INPUT = "text_pair";

    /** Whether a request's inputs are texts: one BYTES input, or two, the second named {@code text_pair}. */
    public static boolean areTexts(List<Tensor> inputs) {
        if (inputs.isEmpty() || inputs.size() > 2 || inputs.stream().anyMatch(t -> t.datatype() != Datatype.BYTES)) {
            return false;
        }
        return inputs.size() == 1 || pairInput(inputs) != null;
    }

    /**
     * The rows of a request's text inputs ({@link #areTexts}).
     *
     * @throws InvalidInputException for inputs that are not texts, a {@code text_pair} input of another length than
     *                               the texts', or texts that carry their own pairs beside it
     */
    public static TextRows rows(List<Tensor> inputs) {
        if (inputs.size() == 1) {
            return rows(inputs.get(0), null);
        }
        Tensor pairs = pairInput(inputs);
        if (inputs.size() != 2 || pairs == null) {
            throw new InvalidInputException("Texts come as one BYTES input, or two with the second named " + PAIR_INPUT + "; got "
                    + inputs.stream().map(Tensor::name).toList());
        }
        return rows(inputs.get(inputs.get(0) == pairs ? 1 : 0), pairs);
    }

    private static Tensor pairInput(List<Tensor> inputs) {
        if (inputs.size() != 2) {
            return null;
        }
        boolean first = PAIR_INPUT.equals(inputs.get(0).name());
        boolean second = PAIR_INPUT.equals(inputs.get(1).name());
        return first == second ? null : first ? inputs.get(0) : inputs.get(1);
    }

    private static TextRows rows(Tensor input, Tensor pairInput) {
        check(input);
        List<String> texts = new ArrayList<>(input.size());
        List<String> pairs = new ArrayList<>(input.size());
        for (String element : input.strings()) {
            Element e = unwrap(input.name(), element);
            texts.add(e.text());
            pairs.add(e.pair());
        }
        if (pairInput == null) {
            return TextRows.mixed(texts, pairs, "text of input " + input.name());
        }
        check(pairInput);
        if (pairs.stream().anyMatch(java.util.Objects::nonNull)) {
            throw new InvalidInputException("Input " + input.name() + " holds texts with their own text_pair beside a " + PAIR_INPUT
                    + " input: send the pairs one way");
        }
        if (pairInput.size() != input.size()) {
            throw new InvalidInputException("Input " + PAIR_INPUT + " holds " + pairInput.size() + " texts, input " + input.name()
                    + " " + input.size() + ": one second text per text");
        }
        return new TextRows(texts, List.of(pairInput.strings()));
    }

    private static void check(Tensor input) {
        if (input.datatype() != Datatype.BYTES) {
            throw new InvalidInputException("Input " + input.name() + " must be BYTES text, was " + input.datatype());
        }
        if (input.size() == 0) {
            throw new InvalidInputException("Input " + input.name() + " holds no text");
        }
    }

    /** One element: its text, and its second text or null. */
    private record Element(String text, String pair) {
    }

    static Element unwrap(String name, String element) {
        String s = element.strip();
        if (!s.startsWith("{") || !s.endsWith("}")) {
            return new Element(element, null);
        }
        JsonNode doc;
        try {
            doc = Json.MAPPER.readTree(s);
        } catch (JacksonException e) {
            return new Element(element, null);
        }
        JsonNode text = doc.get("text");
        if (text == null || !text.isString()) {
            throw new InvalidInputException("Input " + name + " holds a JSON document without a string \"text\"");
        }
        JsonNode pair = doc.get("text_pair");
        if (pair != null && !pair.isNull() && !pair.isString()) {
            throw new InvalidInputException("Input " + name + " holds a JSON document whose \"text_pair\" is not a string");
        }
        return new Element(text.stringValue(), pair == null || pair.isNull() ? null : pair.stringValue());
    }
}
