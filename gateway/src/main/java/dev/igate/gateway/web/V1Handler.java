package dev.igate.gateway.web;

import dev.igate.gateway.http.RequestBodies;
import java.util.List;

import dev.igate.gateway.model.ModelRegistry;
import dev.igate.gateway.serving.Classification;
import dev.igate.gateway.serving.ExplainService;
import dev.igate.gateway.serving.InferenceService;
import dev.igate.gateway.serving.ServingMetrics;
import dev.igate.protocol.Json;
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
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/** KServe V1 REST endpoints for text classifiers. */
@RestController
public class V1Handler {

    private final ModelRegistry registry;
    private final InferenceService service;
    private final ServingMetrics metrics;
    private final RequestBodies bodies;
    private final ExplainService explainer;

    public V1Handler(ModelRegistry registry, InferenceService service, ServingMetrics metrics, RequestBodies bodies,
                     ExplainService explainer) {
        this.explainer = explainer;
        this.bodies = bodies;
        this.registry = registry;
        this.service = service;
        this.metrics = metrics;
    }

    @GetMapping("/v1/models")
    public ResponseEntity<byte[]> models() {
        ObjectNode n = Json.object();
        ArrayNode list = n.putArray("models");
        registry.modelNames().forEach(list::add);
        return JsonResponses.ok(Json.write(n));
    }

    @GetMapping("/v1/models/{model}")
    public ResponseEntity<byte[]> model(@PathVariable String model) {
        boolean ready = registry.state(model, null).isReady();
        ObjectNode n = Json.object();
        n.put("name", model);
        n.put("ready", ready);
        return JsonResponses.ok(Json.write(n));
    }

    /** KServe's V1 liveness, which its Python client's is_server_live() reads: {@code {"status": "alive"}}. */
    @org.springframework.web.bind.annotation.GetMapping("/")
    public ResponseEntity<byte[]> alive() {
        ObjectNode n = Json.object();
        n.put("status", "alive");
        return JsonResponses.ok(Json.write(n));
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
        CloudEventBodies.Mode mode = CloudEventBodies.mode(request);
        return bodies.read(request)
                .map(bytes -> CloudEventBodies.unwrap(mode, request, bytes))
                .flatMap(in -> RequestBodies.decode(in.data(), V1Codec::decodeTexts)
                        .flatMap(texts -> service.classify(model, version, texts))
                        .map(c -> CloudEventBodies.answer(in, model, V1Codec.encodePredictions(predictions(c, probabilities)), c.version())))
                .contextWrite(RouteLogging.of(exchange))
                .transform(JsonResponses.counted(metrics, model, version, "v1_predict"));
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
        return bodies.read(request)
                .flatMap(bytes -> RequestBodies.decode(bytes, b -> new ExplainBody(V1Codec.decodeTexts(b), V1Codec.decodeParameters(b))))
                .flatMap(body -> explainer.explain(model, version, body.texts(), body.parameters()))
                .map(result -> JsonResponses.ok(V1Codec.encodeExplanations(result.explanations()), result.version()))
                .transform(JsonResponses.counted(metrics, model, version, "v1_explain"));
    }

    static List<JsonNode> predictions(Classification c, boolean probabilities) {
        return c.predictions().stream().map(p -> c.task().v1(p, probabilities)).toList();
    }

    private record ExplainBody(java.util.List<String> texts, java.util.Map<String, Object> parameters) {
    }
}
