package dev.igate.transformer;

import java.util.Map;

import dev.igate.protocol.InvalidInputException;

/** Request parameters as tasks read them. */
final class Parameters {

    private Parameters() {
    }

    /**
     * A boolean parameter: absent is false; a JSON boolean, or "true"/"false" as text-only transports
     * (Kafka headers, gRPC string parameters) carry it.
     *
     * @throws InvalidInputException for anything else
     */
    static boolean flag(Map<String, Object> parameters, String name) {
        Object value = parameters.get(name);
        if (value == null) {
            return false;
        }
        if (value instanceof Boolean b) {
            return b;
        }
        if (value instanceof String s && (s.equalsIgnoreCase("true") || s.equalsIgnoreCase("false"))) {
            return Boolean.parseBoolean(s);
        }
        throw new InvalidInputException("Parameter " + name + " must be true or false, was " + value);
    }
}
