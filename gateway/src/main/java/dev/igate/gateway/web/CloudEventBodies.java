package dev.igate.gateway.web;

import java.nio.charset.StandardCharsets;
import java.time.OffsetDateTime;
import java.util.Base64;
import java.util.UUID;

import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Json;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.http.server.reactive.ServerHttpRequest;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * CloudEvents on the predict and infer endpoints, as KServe's model server takes and answers them:
 * in binary mode (the {@code ce-*} headers, the body the request itself) or structured mode
 * ({@code application/cloudevents+json}: the request in the envelope's {@code data}, or
 * {@code data_base64}). The answer is a CloudEvent in the request's mode, of type
 * {@code io.kserve.inference.response}, source {@code io.kserve.inference.<model>}, a new id, and
 * the request's id as the extension {@code requestid}.
 */
public final class CloudEventBodies {

    static final String RESPONSE_TYPE = "io.kserve.inference.response";
    static final String STRUCTURED = "application/cloudevents+json";

    enum Mode { NONE, BINARY, STRUCTURED }

    /** A request body with the CloudEvent it came in, if any. */
    record Incoming(Mode mode, String id, byte[] data) {
    }

    private CloudEventBodies() {
    }

    static Mode mode(ServerHttpRequest request) {
        MediaType type = request.getHeaders().getContentType();
        if (type != null && STRUCTURED.equalsIgnoreCase(type.getType() + "/" + type.getSubtype())) {
            return Mode.STRUCTURED;
        }
        return request.getHeaders().getFirst("ce-specversion") != null ? Mode.BINARY : Mode.NONE;
    }

    /**
     * The request inside a body: the body itself (no event, or binary mode), or a structured
     * event's data.
     *
     * @throws InvalidInputException for an event without the required attributes or data
     */
    static Incoming unwrap(Mode mode, ServerHttpRequest request, byte[] body) {
        switch (mode) {
            case NONE -> {
                return new Incoming(mode, null, body);
            }
            case BINARY -> {
                String id = request.getHeaders().getFirst("ce-id");
                if (id == null || request.getHeaders().getFirst("ce-source") == null || request.getHeaders().getFirst("ce-type") == null) {
                    throw new InvalidInputException("A CloudEvent in binary mode needs the headers ce-id, ce-source, ce-type and ce-specversion");
                }
                return new Incoming(mode, id, body);
            }
            default -> {
                ObjectNode event = Json.parseObject(body);
                return new Incoming(mode, event.path("id").stringValue(null), dataOf(event));
            }
        }
    }

    /**
     * The data of a structured-mode CloudEvent ({@code data}, or {@code data_base64}), as bytes.
     *
     * @throws InvalidInputException for an event without the required attributes or data
     */
    public static byte[] dataOf(byte[] structuredEvent) {
        return dataOf(Json.parseObject(structuredEvent));
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

    /** The answer, as a CloudEvent in the request's mode when it came in one. */
    static ResponseEntity<byte[]> answer(Incoming in, String model, byte[] json, String version) {
        if (in.mode() == Mode.NONE) {
            return JsonResponses.ok(json, version);
        }
        String id = randomId();
        String source = "io.kserve.inference." + model;
        String time = OffsetDateTime.now().toString();
        if (in.mode() == Mode.BINARY) {
            return ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON).header(JsonResponses.VERSION_HEADER, version)
                    .header("ce-specversion", "1.0").header("ce-id", id).header("ce-source", source)
                    .header("ce-type", RESPONSE_TYPE).header("ce-time", time).header("ce-requestid", in.id()).body(json);
        }
        ObjectNode event = Json.object();
        event.put("specversion", "1.0");
        event.put("id", id);
        event.put("source", source);
        event.put("type", RESPONSE_TYPE);
        event.put("time", time);
        event.put("datacontenttype", "application/json");
        event.put("requestid", in.id());
        event.set("data", Json.parseObject(json));
        return ResponseEntity.ok().contentType(MediaType.parseMediaType(STRUCTURED)).header(JsonResponses.VERSION_HEADER, version)
                .body(Json.write(event));
    }
}
