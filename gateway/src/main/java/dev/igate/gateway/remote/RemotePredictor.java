package dev.igate.gateway.remote;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import dev.igate.protocol.InferenceException;
import dev.igate.protocol.InferenceFailedException;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Json;
import dev.igate.protocol.ModelNotFoundException;
import dev.igate.protocol.ModelNotReadyException;
import dev.igate.protocol.ServerBusyException;
import dev.igate.protocol.Tensor;
import dev.igate.protocol.v2.V2Codec;
import org.springframework.http.MediaType;
import org.springframework.web.reactive.function.client.WebClient;
import org.springframework.web.reactive.function.client.WebClientResponseException;
import tools.jackson.databind.JsonNode;

/**
 * A predictor in another process, called over V2 REST: the transformer's way to run a model it
 * does not hold. Calls time out; after three failures in a row the circuit opens for five
 * seconds and calls fail at once with 503, so a dead predictor costs callers nothing but a fast
 * answer. The remote server's errors keep their kind (400, 404, 503).
 */
public final class RemotePredictor {

    static final int FAILURES_TO_OPEN = 3;
    static final Duration OPEN_FOR = Duration.ofSeconds(5);

    private final URI base;
    private final Duration timeout;
    private final WebClient client;
    private final AtomicInteger failures = new AtomicInteger();
    private final AtomicLong openUntil = new AtomicLong();

    public RemotePredictor(URI base, Duration timeout) {
        this.base = base;
        this.timeout = timeout;
        this.client = WebClient.builder().codecs(c -> c.defaultCodecs().maxInMemorySize(64 * 1024 * 1024)).build();
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
        if (System.nanoTime() < openUntil.get()) {
            return CompletableFuture.failedFuture(new ModelNotReadyException("Remote predictor " + base
                    + " is unavailable (circuit open after repeated failures)"));
        }
        URI uri = base.resolve("/v2/models/" + model + "/versions/" + version + "/infer");
        return client.post().uri(uri).contentType(MediaType.APPLICATION_JSON)
                .bodyValue(V2Codec.encodeInferRequest(null, inputs, outputs))
                .retrieve().bodyToMono(byte[].class)
                .timeout(timeout)
                .map(body -> V2Codec.decodeInferResponse(body).outputs())
                .doOnSuccess(r -> failures.set(0))
                .onErrorMap(this::translate)
                .toFuture();
    }

    private Throwable translate(Throwable e) {
        if (e instanceof WebClientResponseException response) {
            String message = remoteMessage(response);
            int status = response.getStatusCode().value();
            if (status >= 500) {
                failed();
            } else {
                failures.set(0);
            }
            return switch (status) {
                case 400 -> new InvalidInputException(message);
                case 404 -> new ModelNotFoundException(message);
                case 503 -> new ServerBusyException(message, Duration.ofSeconds(1));
                default -> new InferenceFailedException("Remote predictor " + base + " failed: " + message, null);
            };
        }
        failed();
        String cause = e instanceof java.util.concurrent.TimeoutException ? "no answer within " + timeout.toMillis() + " ms"
                : e.getMessage();
        return new ModelNotReadyException("Remote predictor " + base + " is unavailable: " + cause);
    }

    private void failed() {
        if (failures.incrementAndGet() >= FAILURES_TO_OPEN) {
            openUntil.set(System.nanoTime() + OPEN_FOR.toNanos());
            failures.set(0);
        }
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
