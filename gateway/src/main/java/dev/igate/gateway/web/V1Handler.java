package dev.igate.gateway.web;

import dev.igate.gateway.serving.CloudEvents;
import dev.igate.gateway.serving.DataPlane;

import dev.igate.gateway.http.RequestBodies;
import java.util.List;

import dev.igate.gateway.model.ModelRegistry;
import dev.igate.protocol.Json;
import dev.igate.protocol.v1.V1Answers;
import dev.igate.protocol.v1.V1Codec;
import org.springframework.http.ResponseEntity;
import org.springframework.http.server.reactive.ServerHttpRequest;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import reactor.core.publisher.Mono;

/** KServe V1 REST endpoints for text classifiers. */
@RestController
public class V1Handler {

    private final ModelRegistry registry;
    private final DataPlane plane;
    private final RequestBodies bodies;

    public V1Handler(ModelRegistry registry, DataPlane plane, RequestBodies bodies) {
        this.registry = registry;
        this.plane = plane;
        this.bodies = bodies;
    }

    @GetMapping("/v1/models")
    public ResponseEntity<byte[]> models() {
        return JsonResponses.ok(Json.writeValue(new V1Answers.Models(registry.modelNames())));
    }

    @GetMapping("/v1/models/{model}")
    public ResponseEntity<byte[]> model(@PathVariable String model) {
        boolean ready = registry.state(model, null).isReady();
        return JsonResponses.ok(Json.writeValue(new V1Answers.ModelStatus(model, ready)));
    }

    /** KServe's V1 liveness, which its Python client's is_server_live() reads: {@code {"status": "alive"}}. */
    @org.springframework.web.bind.annotation.GetMapping("/")
    public ResponseEntity<byte[]> alive() {
        return JsonResponses.ok(Json.writeValue(new V1Answers.Status("alive")));
    }

    /**
     * {@code {"instances": ["text", ...]}} to {@code {"predictions": ["label", ...]}}; with
     * {@code ?probabilities=true} each prediction is {@code {"label": ..., "probabilities": {label: p}}}.
     */
    @PostMapping("/v1/models/{model}:predict")
    public Mono<ResponseEntity<byte[]>> predict(@PathVariable String model,
                                                @RequestParam(name = "probabilities", defaultValue = "false") boolean probabilities,
                                                ServerWebExchange exchange) {
        return predict(model, null, probabilities, exchange);
    }

    /** One version's V1 predict: what canary routes forward to. */
    @PostMapping("/v1/models/{model}/versions/{version}:predict")
    public Mono<ResponseEntity<byte[]>> predict(@PathVariable String model, @PathVariable String version,
                                                @RequestParam(name = "probabilities", defaultValue = "false") boolean probabilities,
                                                ServerWebExchange exchange) {
        ServerHttpRequest request = exchange.getRequest();
        CloudEvents.Mode mode = CloudEventBodies.mode(request);
        java.util.concurrent.atomic.AtomicReference<CloudEvents.Incoming> event = new java.util.concurrent.atomic.AtomicReference<>();
        Mono<DataPlane.Texts> texts = bodies.read(request)
                .map(bytes -> CloudEventBodies.unwrap(mode, request, bytes))
                .flatMap(in -> {
                    event.set(in);
                    return RequestBodies.decode(in.data(), b -> {
                        V1Codec.Request r = V1Codec.decodeRequest(b);
                        return new DataPlane.Texts(r.rows(), r.parameters());
                    });
                });
        return plane.predict(DataPlane.Origin.routed("v1_predict"), model, version, texts)
                .transform(plane.encoded(c -> CloudEventBodies.answer(event.get(), model, V1Codec.encodePredictions(c.v1(probabilities)),
                        c.version())))
                .contextWrite(RouteLogging.of(exchange));
    }

    /**
     * {@code {"instances": [...], "parameters": {...}}} to {@code {"predictions": [...], "explanations":
     * [{words, importances, attributions, delta, target, probabilities, ...}]}}.
     */
    @PostMapping("/v1/models/{model}:explain")
    public Mono<ResponseEntity<byte[]>> explain(@PathVariable String model, ServerHttpRequest request) {
        return explain(model, null, request);
    }

    /** One version's V1 explain: what canary routes forward to. */
    @PostMapping("/v1/models/{model}/versions/{version}:explain")
    public Mono<ResponseEntity<byte[]>> explain(@PathVariable String model, @PathVariable String version,
                                                ServerHttpRequest request) {
        Mono<DataPlane.Texts> decoded = bodies.read(request)
                .flatMap(bytes -> RequestBodies.decode(bytes, b -> {
                    V1Codec.Request r = V1Codec.decodeRequest(b);
                    return new DataPlane.Texts(r.rows(), r.parameters());
                }));
        boolean html = ExplanationHtml.wanted(request);
        return plane.explain(DataPlane.Origin.routed("v1_explain"), model, version, decoded)
                .map(result -> html ? ExplanationHtml.page(result.model(), result.version(), result.explanations())
                        : JsonResponses.ok(V1Codec.encodeExplanations(result.explanations()), result.version()));
    }

}
