package dev.igate.gateway.web;

import java.util.concurrent.atomic.AtomicReference;

import dev.igate.gateway.http.RequestBodies;
import dev.igate.gateway.serving.CloudEvents;
import dev.igate.gateway.serving.DataPlane;
import dev.igate.protocol.InferenceRequest;
import dev.igate.protocol.InferenceResponse;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Json;
import dev.igate.protocol.v2.V2Answers;
import dev.igate.protocol.v2.V2Codec;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.http.server.reactive.ServerHttpRequest;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RestController;
import reactor.core.publisher.Mono;

/**
 * Open Inference Protocol (KServe V2) REST endpoints. HTTP only: bodies are decoded by
 * {@link V2Codec} into the internal request, the work is the {@link DataPlane}'s, and its answer is
 * encoded back.
 */
@RestController
public class V2Handler {

    public static final String SERVER_NAME = "igate";
    public static final String BINARY_HEADER = "Inference-Header-Content-Length";
    public static final String SERVER_VERSION = "0.1.0";

    private final DataPlane plane;
    private final RequestBodies bodies;

    public V2Handler(DataPlane plane, RequestBodies bodies) {
        this.plane = plane;
        this.bodies = bodies;
    }

    /**
     * The protocol extensions served, the same over REST and gRPC: Triton's binary tensor data,
     * classification, statistics, model configuration and model repository, and igate's explain
     * endpoints (REST /explain, gRPC igate.GRPCExplainService).
     */
    public static final java.util.List<String> EXTENSIONS = java.util.List.of("binary_tensor_data", "classification", "statistics",
            "model_configuration", "model_repository", "igate_explain");

    @GetMapping("/v2")
    public ResponseEntity<byte[]> serverMetadata() {
        return JsonResponses.ok(Json.writeValue(new V2Answers.ServerMetadata(SERVER_NAME, SERVER_VERSION, EXTENSIONS)));
    }

    @GetMapping("/v2/health/live")
    public ResponseEntity<byte[]> live() {
        return JsonResponses.ok(Json.writeValue(new V2Answers.Live(true)));
    }

    /** 200 when every model version is loaded and warmed up; 400 otherwise, as the protocol asks for a 4xx. */
    @GetMapping("/v2/health/ready")
    public ResponseEntity<byte[]> ready() {
        boolean ready = plane.serverReady();
        byte[] body = Json.writeValue(new V2Answers.Ready(ready));
        return ready ? JsonResponses.ok(body) : JsonResponses.status(HttpStatus.BAD_REQUEST, body);
    }

    @GetMapping("/v2/models/{model}")
    public ResponseEntity<byte[]> metadata(@PathVariable String model) {
        return JsonResponses.ok(V2Codec.encodeMetadata(plane.metadata(model, null)));
    }

    @GetMapping("/v2/models/{model}/versions/{version}")
    public ResponseEntity<byte[]> metadata(@PathVariable String model, @PathVariable String version) {
        return JsonResponses.ok(V2Codec.encodeMetadata(plane.metadata(model, version)));
    }

    @GetMapping("/v2/models/{model}/ready")
    public ResponseEntity<byte[]> modelReady(@PathVariable String model) {
        return readiness(model, null);
    }

    @GetMapping("/v2/models/{model}/versions/{version}/ready")
    public ResponseEntity<byte[]> modelReady(@PathVariable String model, @PathVariable String version) {
        return readiness(model, version);
    }

    /**
     * 200 when the version serves; otherwise 400 with {@code "ready": false} and the reason, for a
     * version loading, failed, unloaded or unknown alike: the protocol's answer is a boolean (a 4xx
     * status is false), as gRPC's ModelReady answers ready=false.
     */
    private ResponseEntity<byte[]> readiness(String model, String version) {
        DataPlane.Readiness readiness = plane.readiness(model, version);
        // a name the server does not have is not echoed back; a 4xx answer carries its error, as every other one does
        byte[] body = Json.writeValue(V2Answers.ModelReady.of(readiness.known() ? model : null, readiness.ready(), readiness.reason()));
        return readiness.ready() ? JsonResponses.ok(body) : JsonResponses.status(HttpStatus.BAD_REQUEST, body);
    }

    @PostMapping("/v2/models/{model}/infer")
    public Mono<ResponseEntity<byte[]>> infer(@PathVariable String model, ServerWebExchange exchange) {
        return infer(model, null, exchange);
    }

    @PostMapping("/v2/models/{model}/versions/{version}/infer")
    public Mono<ResponseEntity<byte[]>> infer(@PathVariable String model, @PathVariable String version,
                                              ServerWebExchange exchange) {
        ServerHttpRequest request = exchange.getRequest();
        // the header is checked after the body is read: answering before the body is consumed would
        // leave its bytes on a kept-alive connection
        CloudEvents.Mode mode = CloudEventBodies.mode(request);
        AtomicReference<CloudEvents.Incoming> event = new AtomicReference<>();
        Mono<InferenceRequest> decoded = bodies.read(request)
                .map(bytes -> CloudEventBodies.unwrap(mode, request, bytes))
                .flatMap(in -> {
                    event.set(in);
                    return RequestBodies.decode(in.data(), b -> V2Codec.decodeInfer(model, version, b,
                            mode == CloudEvents.Mode.NONE ? headerLength(request) : -1));
                });
        return plane.infer(DataPlane.Origin.routed("v2_infer"), model, version, decoded)
                .transform(plane.encoded(a -> mode == CloudEvents.Mode.NONE ? encode(a.request(), a.response())
                        : CloudEventBodies.answer(event.get(), model, V2Codec.encodeInfer(a.response()), a.response().version())))
                .contextWrite(RouteLogging.of(exchange));
    }

    /** The binary tensor data extension's header, or -1 for a JSON-only body. */
    static int headerLength(ServerHttpRequest request) {
        String value = request.getHeaders().getFirst(BINARY_HEADER);
        if (value == null) {
            return -1;
        }
        try {
            int n = Integer.parseInt(value.trim());
            if (n < 0) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new InvalidInputException(BINARY_HEADER + " must be a non-negative integer, was " + value);
        }
    }

    static ResponseEntity<byte[]> encode(InferenceRequest request, InferenceResponse response) {
        if (request.binaryOutputs().isEmpty()) {
            return JsonResponses.ok(V2Codec.encodeInfer(response), response.version());
        }
        V2Codec.BinaryBody binary = V2Codec.encodeInferBinary(response, request);
        return ResponseEntity.ok().contentType(MediaType.APPLICATION_OCTET_STREAM)
                .header(BINARY_HEADER, String.valueOf(binary.headerLength()))
                .header(JsonResponses.VERSION_HEADER, response.version()).body(binary.body());
    }

    @PostMapping("/v2/models/{model}/explain")
    public Mono<ResponseEntity<byte[]>> explain(@PathVariable String model, ServerHttpRequest request) {
        return explain(model, null, request);
    }

    /**
     * Same body as infer, JSON or with the binary tensor data extension, with one BYTES text input;
     * explain parameters ride in "parameters".
     */
    @PostMapping("/v2/models/{model}/versions/{version}/explain")
    public Mono<ResponseEntity<byte[]>> explain(@PathVariable String model, @PathVariable String version,
                                                ServerHttpRequest request) {
        Mono<InferenceRequest> decoded = bodies.read(request)
                .flatMap(bytes -> RequestBodies.decode(bytes, b -> V2Codec.decodeInfer(model, version, b, headerLength(request))));
        boolean html = ExplanationHtml.wanted(request);
        return plane.explainRequest(DataPlane.Origin.routed("v2_explain"), model, version, decoded)
                .map(e -> html ? ExplanationHtml.page(e.result().model(), e.result().version(), e.result().explanations())
                        : JsonResponses.ok(V2Codec.encodeExplain(e.request().id(), e.result().model(), e.result().version(),
                        e.result().explanations()), e.result().version()));
    }

}
