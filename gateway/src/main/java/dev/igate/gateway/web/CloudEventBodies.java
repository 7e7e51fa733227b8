package dev.igate.gateway.web;

import dev.igate.gateway.serving.CloudEvents;

import java.time.OffsetDateTime;

import dev.igate.protocol.Json;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.http.server.reactive.ServerHttpRequest;
import tools.jackson.databind.node.ObjectNode;

/**
 * CloudEvents on the REST predict and infer endpoints, as KServe's model server takes and answers
 * them: decoded by {@link CloudEvents} (binary mode's attributes from the {@code ce-*} headers), and
 * answered as a CloudEvent in the request's mode, of type
 * {@code io.kserve.inference.response}, source {@code io.kserve.inference.<model>}, a new id, and
 * the request's id as the extension {@code requestid}.
 */
public final class CloudEventBodies {

    private CloudEventBodies() {
    }

    static CloudEvents.Mode mode(ServerHttpRequest request) {
        MediaType type = request.getHeaders().getContentType();
        return CloudEvents.mode(type == null ? null : type.getType() + "/" + type.getSubtype(),
                request.getHeaders().getFirst("ce-specversion") != null);
    }

    /** The request inside a body, its binary-mode attributes read from the {@code ce-*} headers. */
    static CloudEvents.Incoming unwrap(CloudEvents.Mode mode, ServerHttpRequest request, byte[] body) {
        return CloudEvents.unwrap(mode, "ce-", request.getHeaders()::getFirst, body);
    }

    /** The answer, as a CloudEvent in the request's mode when it came in one. */
    static ResponseEntity<byte[]> answer(CloudEvents.Incoming in, String model, byte[] json, String version) {
        if (in.mode() == CloudEvents.Mode.NONE) {
            return JsonResponses.ok(json, version);
        }
        String id = CloudEvents.randomId();
        String source = "io.kserve.inference." + model;
        String time = OffsetDateTime.now().toString();
        if (in.mode() == CloudEvents.Mode.BINARY) {
            return ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON).header(JsonResponses.VERSION_HEADER, version)
                    .header("ce-specversion", "1.0").header("ce-id", id).header("ce-source", source)
                    .header("ce-type", CloudEvents.RESPONSE_TYPE).header("ce-time", time).header("ce-requestid", in.id()).body(json);
        }
        ObjectNode event = Json.object();
        event.put("specversion", "1.0");
        event.put("id", id);
        event.put("source", source);
        event.put("type", CloudEvents.RESPONSE_TYPE);
        event.put("time", time);
        event.put("datacontenttype", "application/json");
        event.put("requestid", in.id());
        event.set("data", Json.parseObject(json));
        return ResponseEntity.ok().contentType(MediaType.parseMediaType(CloudEvents.STRUCTURED)).header(JsonResponses.VERSION_HEADER, version)
                .body(Json.write(event));
    }
}
