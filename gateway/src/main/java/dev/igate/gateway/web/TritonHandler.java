package dev.igate.gateway.web;

import dev.igate.gateway.http.RequestBodies;
import dev.igate.gateway.model.ModelRegistry;
import dev.igate.gateway.model.TritonViews;
import dev.igate.gateway.routing.AdminToken;
import dev.igate.gateway.model.TritonStatistics;
import dev.igate.protocol.Json;
import org.springframework.http.ResponseEntity;
import org.springframework.http.server.reactive.ServerHttpRequest;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RestController;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * Triton's REST extensions, as its HTTP client and tools call them: statistics, model
 * configuration, and the model repository (index, load, unload; behind the admin bearer token).
 */
@RestController
public class TritonHandler {

    private final ModelRegistry registry;
    private final AdminToken token;
    private final RequestBodies bodies;

    public TritonHandler(ModelRegistry registry, AdminToken token, RequestBodies bodies) {
        this.registry = registry;
        this.token = token;
        this.bodies = bodies;
    }

    @GetMapping("/v2/models/stats")
    public ResponseEntity<byte[]> statistics() {
        return statistics(null, null);
    }

    @GetMapping("/v2/models/{model}/stats")
    public ResponseEntity<byte[]> statistics(@PathVariable String model) {
        return statistics(model, null);
    }

    @GetMapping("/v2/models/{model}/versions/{version}/stats")
    public ResponseEntity<byte[]> statistics(@PathVariable String model, @PathVariable String version) {
        ObjectNode root = Json.object();
        ArrayNode stats = root.putArray("model_stats");
        for (TritonStatistics s : registry.statistics(model, version)) {
            stats.add(s.toJson());
        }
        return JsonResponses.ok(Json.write(root));
    }

    @GetMapping("/v2/models/{model}/config")
    public ResponseEntity<byte[]> config(@PathVariable String model) {
        return config(model, null);
    }

    @GetMapping("/v2/models/{model}/versions/{version}/config")
    public ResponseEntity<byte[]> config(@PathVariable String model, @PathVariable String version) {
        return JsonResponses.ok(Json.write(TritonViews.json(TritonViews.config(registry.resolve(model, version)))));
    }

    /** {@code {"ready": true}} lists only the ready versions; answers a JSON array, as Triton does. */
    @PostMapping("/v2/repository/index")
    public Mono<ResponseEntity<byte[]>> index(ServerHttpRequest request) {
        token.check(request.getHeaders().getFirst("Authorization"));
        return bodies.read(request).publishOn(Schedulers.boundedElastic()).map(bytes -> {
            boolean readyOnly = bytes.length > 0 && Json.parseObject(bytes).path("ready").asBoolean(false);
            ArrayNode out = tools.jackson.databind.node.JsonNodeFactory.instance.arrayNode();
            try {
                for (TritonViews.IndexEntry e : registry.index(readyOnly)) {
                    out.add(e.toJson());
                }
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            return JsonResponses.ok(Json.write(out));
        });
    }

    @PostMapping("/v2/repository/models/{model}/load")
    public Mono<ResponseEntity<byte[]>> load(@PathVariable String model, ServerHttpRequest request) {
        token.check(request.getHeaders().getFirst("Authorization"));
        return bodies.read(request).publishOn(Schedulers.boundedElastic()).map(bytes -> {
            // Triton's load may carry a config override or model files: igate loads the repository's own files; its one
            // parameter is calibration, the texts an int8 version is checked on (quantize: int8)
            tools.jackson.databind.JsonNode parameters = bytes.length == 0 ? null : Json.parseObject(bytes).path("parameters");
            java.util.List<String> calibration = null;
            if (parameters != null && !parameters.isMissingNode() && !parameters.isEmpty()) {
                var names = new java.util.ArrayList<String>();
                parameters.propertyNames().forEach(names::add);
                if (!names.equals(java.util.List.of("calibration"))) {
                    throw new dev.igate.protocol.InvalidInputException("Load parameters other than calibration (a config override,"
                            + " model files) are not supported: igate loads the model's files from its repository");
                }
                calibration = Json.texts(parameters.get("calibration"), "calibration");
            }
            try {
                registry.reload(model, calibration);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            return JsonResponses.ok(new byte[0]);
        });
    }

    @PostMapping("/v2/repository/models/{model}/unload")
    public Mono<ResponseEntity<byte[]>> unload(@PathVariable String model, ServerHttpRequest request) {
        token.check(request.getHeaders().getFirst("Authorization"));
        return bodies.read(request).publishOn(Schedulers.boundedElastic()).map(bytes -> {
            registry.unload(model);
            return JsonResponses.ok(new byte[0]);
        });
    }
}
