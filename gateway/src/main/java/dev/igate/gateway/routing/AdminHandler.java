package dev.igate.gateway.routing;

import java.util.List;
import java.util.Map;

import dev.igate.gateway.model.ModelRegistry;
import dev.igate.gateway.http.RequestBodies;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Json;
import dev.igate.protocol.ModelNotFoundException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.http.server.reactive.ServerHttpRequest;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.PutMapping;
import org.springframework.web.bind.annotation.RestController;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;
import tools.jackson.databind.node.ObjectNode;

/**
 * Run-time control, effective for the next request: set a model's canary percentage, promote
 * (canary 100) or roll back (canary 0), set one route's weight; load, reload or unload a model. Every call needs
 * {@code Authorization: Bearer <igate.admin-token>}; with no token configured the API is off
 * (403), so it fails closed.
 */
@RestController
public class AdminHandler {

    private static final Logger log = LoggerFactory.getLogger(AdminHandler.class);
    public static final String CANARY = "canary";

    private final RevisionWeights weights;
    private final RequestBodies bodies;
    private final AdminToken token;
    private final ModelRegistry registry;

    public AdminHandler(RevisionWeights weights, RequestBodies bodies, AdminToken token, ModelRegistry registry) {
        this.registry = registry;
        this.weights = weights;
        this.bodies = bodies;
        this.token = token;
    }

    private void authorize(ServerHttpRequest request) {
        token.check(request.getHeaders().getFirst("Authorization"));
    }

    @GetMapping("/admin/weights")
    public ResponseEntity<byte[]> current(ServerHttpRequest request) {
        authorize(request);
        return json(weights.effectiveWeights());
    }

    /** Body {@code {"percent": 25}}: canary routes of the model get 25, stable routes 75. */
    @PutMapping("/admin/models/{model}/canary")
    public Mono<ResponseEntity<byte[]>> canary(@PathVariable String model, ServerHttpRequest request) {
        authorize(request);
        return bodies.read(request).map(bytes -> {
            ObjectNode body = Json.parseObject(bytes);
            if (!body.has("percent") || !body.get("percent").canConvertToInt()
                    || body.get("percent").intValue() < 0 || body.get("percent").intValue() > 100) {
                throw new InvalidInputException("Body must be {\"percent\": 0..100}");
            }
            return setCanary(model, body.get("percent").intValue(), "canary percent");
        });
    }

    @PostMapping("/admin/models/{model}/promote")
    public ResponseEntity<byte[]> promote(@PathVariable String model, ServerHttpRequest request) {
        authorize(request);
        return setCanary(model, 100, "promote");
    }

    @PostMapping("/admin/models/{model}/rollback")
    public ResponseEntity<byte[]> rollback(@PathVariable String model, ServerHttpRequest request) {
        authorize(request);
        return setCanary(model, 0, "rollback");
    }

    /** Body {@code {"weight": 5}}. */
    @PutMapping("/admin/routes/{routeId}/weight")
    public Mono<ResponseEntity<byte[]>> routeWeight(@PathVariable String routeId, ServerHttpRequest request) {
        authorize(request);
        return bodies.read(request).map(bytes -> {
            ObjectNode body = Json.parseObject(bytes);
            if (!body.has("weight") || !body.get("weight").canConvertToInt() || body.get("weight").intValue() < 0) {
                throw new InvalidInputException("Body must be {\"weight\": n} with n >= 0");
            }
            if (weights.revisions().stream().noneMatch(r -> r.routeId().equals(routeId))) {
                throw new ModelNotFoundException("No weighted route " + routeId);
            }
            weights.override(routeId, body.get("weight").intValue());
            log.info("Admin: route {} weight set to {}", routeId, body.get("weight").intValue());
            return json(weights.effectiveWeights());
        });
    }

    /**
     * Loads a model that appeared in the repository, or reloads one whose files changed, without a
     * restart; the same as Triton's {@code POST /v2/repository/models/{m}/load}.
     */
    @PostMapping("/admin/models/{model}/load")
    public Mono<ResponseEntity<byte[]>> load(@PathVariable String model, ServerHttpRequest request) {
        authorize(request);
        // an optional body {"calibration": [texts]}: what an int8 version (quantize: int8) is checked on
        return bodies.read(request).publishOn(Schedulers.boundedElastic()).map(bytes -> {
            ObjectNode body = bytes.length == 0 ? null : Json.parseObject(bytes);
            java.util.List<String> calibration = body == null || !body.has("calibration") ? null
                    : Json.texts(body.get("calibration"), "calibration");
            try {
                return json(registry.reload(model, calibration));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }

    /**
     * Unloads a model: new requests get 404, queued ones finish, then its sessions close; the same
     * as Triton's {@code POST /v2/repository/models/{m}/unload}.
     */
    @PostMapping("/admin/models/{model}/unload")
    public Mono<ResponseEntity<byte[]>> unload(@PathVariable String model, ServerHttpRequest request) {
        authorize(request);
        return Mono.fromCallable(() -> {
            registry.unload(model);
            return json(Map.of("unloaded", model));
        }).subscribeOn(Schedulers.boundedElastic());
    }

    private ResponseEntity<byte[]> setCanary(String model, int percent, String action) {
        List<Revision> revisions = weights.revisions().stream().filter(r -> model.equals(r.model())).toList();
        if (revisions.stream().noneMatch(r -> CANARY.equals(r.revision()))) {
            throw new ModelNotFoundException("Model " + model + " has no canary route");
        }
        for (Revision r : revisions) {
            weights.override(r.routeId(), CANARY.equals(r.revision()) ? percent : 100 - percent);
        }
        log.info("Admin: {} for model {}: canary at {}%", action, model, percent);
        return json(weights.effectiveWeights());
    }

    private static ResponseEntity<byte[]> json(Map<String, ?> value) {
        return ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON).body(Json.MAPPER.writeValueAsBytes(value));
    }
}
