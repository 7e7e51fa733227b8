package dev.igate.gateway.remote;

import java.net.URI;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

import dev.igate.protocol.Datatype;
import dev.igate.protocol.InferenceException;
import dev.igate.protocol.InferenceFailedException;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Json;
import dev.igate.protocol.ModelNotFoundException;
import dev.igate.protocol.ModelNotReadyException;
import dev.igate.protocol.ServerBusyException;
import dev.igate.protocol.Tensor;
import dev.igate.protocol.v2.V2Codec;
import io.github.resilience4j.circuitbreaker.CallNotPermittedException;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.github.resilience4j.reactor.circuitbreaker.operator.CircuitBreakerOperator;
import org.springframework.http.MediaType;
import org.springframework.web.reactive.function.client.WebClient;
import org.springframework.web.reactive.function.client.WebClientResponseException;
import tools.jackson.databind.JsonNode;

/**
 * A predictor in another process, called over V2 REST: the transformer's way to run a model it
 * does not hold. Calls time out; a Resilience4j circuit breaker opens after three failures in a
 * row (refused or broken connections, timeouts, 5xx answers), and for five seconds calls fail at
 * once with 503, so a dead predictor costs callers nothing but a fast answer; then one call probes
 * it. The remote server's errors keep their kind (400, 404, 503); client errors are not failures.
 */
public final class RemotePredictor {

    static final int FAILURES_TO_OPEN = 3;
    static final Duration OPEN_FOR = Duration.ofSeconds(5);

    private final URI base;
    private final Duration timeout;
    private final WebClient client;
    private final CircuitBreaker breaker;
    private final Map<String, CompletableFuture<Map<String, Datatype>>> inputs = new ConcurrentHashMap<>();

    public RemotePredictor(URI base, Duration timeout) {
        this(base, timeout, OPEN_FOR);
    }

    RemotePredictor(URI base, Duration timeout, Duration openFor) {
        this.base = base;
        this.timeout = timeout;
        this.client = WebClient.builder().codecs(c -> c.defaultCodecs().maxInMemorySize(64 * 1024 * 1024)).build();
        this.breaker = CircuitBreaker.of("remote-predictor " + base, CircuitBreakerConfig.custom()
                .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
                .slidingWindowSize(FAILURES_TO_OPEN).minimumNumberOfCalls(FAILURES_TO_OPEN).failureRateThreshold(100)
                .waitDurationInOpenState(openFor).permittedNumberOfCallsInHalfOpenState(1)
                // the remote predictor's answers to bad input say nothing about its health
                .recordException(e -> !(e instanceof InvalidInputException || e instanceof ModelNotFoundException))
                .build());
    }

    public URI base() {
        return base;
    }

    /**
     * Runs tensors on the remote model version.
     *
     * @return the outputs, or a future failed with an {@link InferenceException} of the matching kind
     */
    public CompletableFuture<List<Tensor>> infer(String model, String version, List<Tensor> inputs, List<String> outputs) {
        return infer(model, version, inputs, outputs, Map.of());
    }

    /** As {@link #infer(String, String, List, List)}, with {@code headers} on the call (the request's trace context). */
    public CompletableFuture<List<Tensor>> infer(String model, String version, List<Tensor> inputs, List<String> outputs,
                                                 Map<String, String> headers) {
        URI uri = base.resolve("/v2/models/" + model + "/versions/" + version + "/infer");
        return client.post().uri(uri).contentType(MediaType.APPLICATION_JSON).headers(h -> headers.forEach(h::set))
                .bodyValue(V2Codec.encodeInferRequest(null, inputs, outputs))
                .retrieve().bodyToMono(byte[].class)
                .timeout(timeout)
                .map(body -> V2Codec.decodeInferResponse(body).outputs())
                .onErrorMap(this::translate)
                .transformDeferred(CircuitBreakerOperator.of(breaker))
                .onErrorMap(CallNotPermittedException.class, e -> new ModelNotReadyException("Remote predictor " + base
                        + " is unavailable (circuit open after repeated failures)"))
                .toFuture();
    }

    /**
     * The token inputs the remote model version takes, by name with their datatype (its V2
     * metadata), asked once per version and kept: DistilBERT and RoBERTa exports have no
     * token_type_ids, and some exports take INT32.
     */
    public CompletableFuture<Map<String, Datatype>> inputs(String model, String version) {
        return inputs.computeIfAbsent(model + "/" + version, key -> {
            CompletableFuture<Map<String, Datatype>> asked = client.get()
                    .uri(base.resolve("/v2/models/" + model + "/versions/" + version))
                    .retrieve().bodyToMono(byte[].class)
                    .timeout(timeout)
                    .map(RemotePredictor::inputsOf)
                    .onErrorMap(this::translate)
                    .toFuture();
            // a failed ask is asked again next time
            asked.whenComplete((r, e) -> {
                if (e != null) {
                    inputs.remove(key);
                }
            });
            return asked;
        });
    }

    private static Map<String, Datatype> inputsOf(byte[] metadata) {
        Map<String, Datatype> out = new LinkedHashMap<>();
        for (JsonNode in : Json.MAPPER.readTree(metadata).path("inputs")) {
            try {
                out.put(in.path("name").asString(""), Datatype.parse(in.path("datatype").asString("")));
            } catch (InvalidInputException unknown) {
                // an input of a datatype this server does not know is not a token input
            }
        }
        return out;
    }

    private Throwable translate(Throwable e) {
        if (e instanceof WebClientResponseException response) {
            String message = remoteMessage(response);
            return switch (response.getStatusCode().value()) {
                case 400 -> new InvalidInputException(message);
                case 404 -> new ModelNotFoundException(message);
                case 503 -> new ServerBusyException(message, Duration.ofSeconds(1));
                default -> new InferenceFailedException("Remote predictor " + base + " failed: " + message, null);
            };
        }
        String cause = e instanceof java.util.concurrent.TimeoutException ? "no answer within " + timeout.toMillis() + " ms"
                : e.getMessage();
        return new ModelNotReadyException("Remote predictor " + base + " is unavailable: " + cause);
    }

    private static String remoteMessage(WebClientResponseException e) {
        try {
            JsonNode error = Json.MAPPER.readTree(e.getResponseBodyAsByteArray()).get("error");
            if (error != null && error.isString()) {
                return error.stringValue();
            }
        } catch (RuntimeException ignored) {
            // not a V2 error body: fall back to the status line
        }
        return e.getStatusCode().value() + " from the remote predictor";
    }
}
