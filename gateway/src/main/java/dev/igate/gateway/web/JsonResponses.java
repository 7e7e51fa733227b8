package dev.igate.gateway.web;

import java.util.function.Function;

import dev.igate.gateway.serving.ServingMetrics;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import reactor.core.publisher.Mono;

/** JSON bodies that the codecs already encoded, as response entities. */
final class JsonResponses {

    static final String VERSION_HEADER = "X-Model-Version";

    private JsonResponses() {
    }

    static ResponseEntity<byte[]> ok(byte[] json) {
        return ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON).body(json);
    }

    static ResponseEntity<byte[]> ok(byte[] json, String modelVersion) {
        return ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON).header(VERSION_HEADER, modelVersion).body(json);
    }

    /** Counts a handler's answer in {@code igate_requests_total}, with the version that served it. */
    static Function<Mono<ResponseEntity<byte[]>>, Mono<ResponseEntity<byte[]>>> counted(ServingMetrics metrics, String model,
                                                                                  String version, String endpoint) {
        return answer -> answer
                .doOnSuccess(r -> metrics.request(model, r == null ? version : r.getHeaders().getFirst(VERSION_HEADER), endpoint, null))
                .doOnError(e -> metrics.request(model, version, endpoint, e));
    }

    static ResponseEntity<byte[]> status(HttpStatus status, byte[] json) {
        return ResponseEntity.status(status).contentType(MediaType.APPLICATION_JSON).body(json);
    }
}
