package dev.igate.gateway.serving;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Locale;
import java.util.UUID;
import java.util.function.Function;

import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Json;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * CloudEvents carrying requests, decoded once for every transport (KServe's {@code decode_cloudevent}):
 * binary mode (the attributes in the transport's headers, {@code ce-*} over HTTP and {@code ce_*}
 * over Kafka; the body the request itself) or structured mode ({@code application/cloudevents+json}:
 * the request in the envelope's {@code data}, or {@code data_base64}). Answers are CloudEvents of
 * type {@code io.kserve.inference.response} naming the request's event as {@code requestid}; each
 * transport writes them in its own form.
 */
public final class CloudEvents {

    public static final String RESPONSE_TYPE = "io.kserve.inference.response";
    public static final String STRUCTURED = "application/cloudevents+json";

    public enum Mode { NONE, BINARY, STRUCTURED }

    /** A request body with the CloudEvent it came in: its mode, its id (null when none), and the request's bytes. */
    public record Incoming(Mode mode, String id, byte[] data) {
    }

    private CloudEvents() {
    }

    /**
     * The mode of a body: structured by its content type, binary when the transport carries the
     * {@code specversion} attribute, else none.
     */
    public static Mode mode(String contentType, boolean hasSpecversion) {
        if (contentType != null && contentType.toLowerCase(Locale.ROOT).startsWith(STRUCTURED)) {
            return Mode.STRUCTURED;
        }
        return hasSpecversion ? Mode.BINARY : Mode.NONE;
    }

    /**
     * The request inside a body: the body itself (no event, or binary mode, whose attributes are
     * the transport's headers named {@code prefix} + "id", "source", ...), or a structured event's
     * data.
     *
     * @throws InvalidInputException for an event without the required attributes or data
     */
    public static Incoming unwrap(Mode mode, String prefix, Function<String, String> header, byte[] body) {
        Function<String, String> attribute = name -> header.apply(prefix + name);
        switch (mode) {
            case NONE -> {
                return new Incoming(mode, null, body);
            }
            case BINARY -> {
                String id = attribute.apply("id");
                if (id == null || attribute.apply("source") == null || attribute.apply("type") == null) {
                    throw new InvalidInputException("A CloudEvent in binary mode needs the headers " + prefix + "id, " + prefix + "source, "
                            + prefix + "type and " + prefix + "specversion");
                }
                return new Incoming(mode, id, body);
            }
            default -> {
                ObjectNode event = Json.parseObject(body);
                return new Incoming(mode, event.path("id").stringValue(null), dataOf(event));
            }
        }
    }

    private static byte[] dataOf(ObjectNode event) {
        for (String required : new String[] {"specversion", "id", "source", "type"}) {
            if (!event.path(required).isString()) {
                throw new InvalidInputException("A structured CloudEvent needs a string \"" + required + "\"");
            }
        }
        JsonNode data = event.get("data");
        if (data != null && !data.isNull()) {
            return data.isString() ? data.stringValue().getBytes(StandardCharsets.UTF_8) : Json.write(data);
        }
        if (event.path("data_base64").isString()) {
            try {
                return Base64.getDecoder().decode(event.get("data_base64").stringValue());
            } catch (IllegalArgumentException e) {
                throw new InvalidInputException("The CloudEvent's data_base64 is not base64");
            }
        }
        throw new InvalidInputException("The CloudEvent carries no data: the request goes in \"data\"");
    }

    /**
     * A random (version 4) UUID from the thread's generator: UUID.randomUUID's SecureRandom may read
     * the entropy device, which an event loop must never wait on.
     */
    public static String randomId() {
        java.util.concurrent.ThreadLocalRandom r = java.util.concurrent.ThreadLocalRandom.current();
        long high = (r.nextLong() & ~0xF000L) | 0x4000L;
        long low = (r.nextLong() & 0x3FFFFFFFFFFFFFFFL) | 0x8000000000000000L;
        return new UUID(high, low).toString();
    }
}
