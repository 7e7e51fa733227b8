package dev.igate.gateway.web;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import dev.igate.gateway.IgateProperties;
import dev.igate.gateway.http.ErrorStatus;
import dev.igate.gateway.http.RequestBodies;
import dev.igate.gateway.model.ModelRegistry;
import dev.igate.gateway.model.ServedModel;
import dev.igate.gateway.routing.RevisionWeights;
import dev.igate.gateway.serving.Classification;
import dev.igate.gateway.serving.DataPlane;
import dev.igate.protocol.InferenceException;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Json;
import dev.igate.protocol.ModelNotReadyException;
import dev.igate.protocol.ServerBusyException;
import dev.igate.protocol.TextRows;
import dev.igate.protocol.compat.HfInferenceCodec;
import dev.igate.protocol.compat.Scores;
import dev.igate.protocol.compat.TeiCodec;
import dev.igate.transformer.Prediction;
import dev.igate.transformer.Rerank;
import dev.igate.transformer.Task;
import dev.igate.transformer.TokenClassification;
import dev.igate.transformer.ZeroShot;
import org.springframework.http.HttpStatus;
import org.springframework.http.ResponseEntity;
import org.springframework.http.server.reactive.ServerHttpRequest;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RestController;
import reactor.core.publisher.Mono;

/**
 * The API shapes people already code against, on the same data plane as V1 and V2 (canary
 * weights, limits, batching, metrics):
 * <ul>
 * <li>text-embeddings-inference under {@code /tei/{model}/}: {@code POST predict} (a text, a pair
 * or a batch; every label with its score), {@code POST rerank} (a cross-encoder's scores, sorted),
 * {@code GET info}; TEI's error body {@code {"error", "error_type"}} and statuses (422 for a
 * request it cannot take, 429 when overloaded), so a client given that base URL works unchanged;</li>
 * <li>the HuggingFace Inference API at {@code POST /models/{model}}, answered as
 * {@code huggingface_hub}'s {@code InferenceClient} parses it when given that URL as its model: text
 * classification {@code [[{"label", "score"}, ...]]} ({@code top_k}, {@code function_to_apply}),
 * token classification {@code [{"entity_group", "score", "word", "start", "end"}, ...]}, zero-shot
 * {@code [{"label", "score"}, ...]} sorted ({@code candidate_labels}, {@code multi_label},
 * {@code hypothesis_template}); the task is the model's (an NLI model classifies zero-shot unless the
 * inputs are pairs).</li>
 * </ul>
 */
@RestController
public class CompatibilityHandler {

    private final ModelRegistry registry;
    private final DataPlane plane;
    private final RequestBodies bodies;
    private final IgateProperties properties;

    public CompatibilityHandler(ModelRegistry registry, DataPlane plane, RequestBodies bodies, IgateProperties properties) {
        this.registry = registry;
        this.plane = plane;
        this.bodies = bodies;
        this.properties = properties;
    }

    // ------------------------------------------------------------------ text-embeddings-inference

    @PostMapping("/tei/{model}/predict")
    public Mono<ResponseEntity<byte[]>> teiPredict(@PathVariable String model, ServerHttpRequest request) {
        AtomicReference<TeiCodec.Predict> decoded = new AtomicReference<>();
        Mono<DataPlane.Texts> texts = bodies.read(request).flatMap(bytes -> RequestBodies.decode(bytes, b -> {
            TeiCodec.Predict predict = TeiCodec.decodePredict(b);
            ServedModel served = registry.resolve(model, null);
            if (served.task() == null || served.task() instanceof TokenClassification) {
                throw new Backend("Model " + model + " is not a classifier model");
            }
            decoded.set(predict);
            return new DataPlane.Texts(predict.rows(), Map.of(TRUNCATION, predict.truncate(), DIRECTION, predict.fromLeft() ? "left" : "right"));
        }));
        return plane.predict(origin("tei_predict", request), model, null, texts)
                .map(c -> ok(TeiCodec.encodePredict(c.labels(), c.logits().floats(), decoded.get().rows().size(), decoded.get().batch(),
                        decoded.get().rawScores()), c))
                .onErrorResume(CompatibilityHandler::teiError);
    }

    @PostMapping("/tei/{model}/rerank")
    public Mono<ResponseEntity<byte[]>> teiRerank(@PathVariable String model, ServerHttpRequest request) {
        Mono<DataPlane.Texts> texts = bodies.read(request).flatMap(bytes -> RequestBodies.decode(bytes, b -> {
            TeiCodec.Rerank rerank = TeiCodec.decodeRerank(b);
            if (rerank.texts().isEmpty()) {
                throw new Empty("`texts` cannot be empty");
            }
            ServedModel served = registry.resolve(model, null);
            if (served.task() == null || !served.reading().pairs() || served.task().labels().size() != 1) {
                throw new Backend("model is not a re-ranker model");
            }
            Map<String, Object> parameters = new LinkedHashMap<>();
            parameters.put(Rerank.QUERY, rerank.query());
            parameters.put(Rerank.RAW_SCORES, rerank.rawScores());
            parameters.put(Rerank.RETURN_TEXT, rerank.returnText());
            parameters.put(TRUNCATION, rerank.truncate());
            parameters.put(DIRECTION, rerank.fromLeft() ? "left" : "right");
            return new DataPlane.Texts(TextRows.of(rerank.texts()), parameters);
        }));
        return plane.predict(origin("tei_rerank", request), model, null, texts)
                .map(c -> ok(Json.writeValue(c.predictions().stream().map(p -> c.task().v1(p, false)).toList()), c))
                .onErrorResume(CompatibilityHandler::teiError);
    }

    /** TEI's {@code /info}: the model's type (classifier or reranker, with its labels) and limits. */
    @GetMapping("/tei/{model}/info")
    public Mono<ResponseEntity<byte[]>> teiInfo(@PathVariable String model) {
        return Mono.fromCallable(() -> {
            ServedModel served = registry.resolve(model, null);
            if (served.task() == null || served.encoder() == null) {
                throw new Backend("Model " + model + " is not a classifier model");
            }
            List<String> labels = served.task().labels();
            Map<String, Object> id2label = new LinkedHashMap<>();
            Map<String, Object> label2id = new LinkedHashMap<>();
            for (int i = 0; i < labels.size(); i++) {
                id2label.put(String.valueOf(i), labels.get(i));
                label2id.put(labels.get(i), i);
            }
            boolean reranker = served.reading().pairs() && labels.size() == 1;
            Map<String, Object> info = new LinkedHashMap<>();
            info.put("model_id", model);
            info.put("model_sha", null);
            info.put("model_dtype", "float32");
            info.put("served_model_name", model);
            info.put("model_type", Map.of(reranker ? "reranker" : "classifier", Map.of("id2label", id2label, "label2id", label2id)));
            info.put("model_version", served.version());
            info.put("max_concurrent_requests", properties.forModel(model).queueCapacity());
            info.put("max_input_length", served.encoder().maxLength());
            info.put("max_batch_tokens", served.batching().maxBatchTokens());
            info.put("max_batch_requests", served.batching().maxBatchSize());
            info.put("max_client_batch_size", properties.limits().maxRows());
            info.put("auto_truncate", true);
            info.put("tokenization_workers", Runtime.getRuntime().availableProcessors());
            info.put("version", "igate");
            info.put("sha", null);
            info.put("docker_label", null);
            return JsonResponses.ok(Json.writeValue(info));
        }).onErrorResume(CompatibilityHandler::teiError);
    }

    /** A refusal TEI answers 424 (Backend): the model is not of the kind the route serves. */
    static final class Backend extends InferenceException {
        Backend(String message) {
            super(message);
        }

        @Override
        public int status() {
            return 424;
        }
    }

    /** A request with nothing to do, which TEI answers 400 (Empty). */
    static final class Empty extends InferenceException {
        Empty(String message) {
            super(message);
        }

        @Override
        public int status() {
            return 400;
        }
    }

    /**
     * An error as TEI answers it: {@code {"error", "error_type"}}, a request it cannot take 422
     * (Validation), a full queue 429 (Overloaded), a model not ready 503 (Unhealthy), the wrong kind of
     * model 424 (Backend). Errors that are not the request's (a server failure) go to the one handler
     * of errors, as on every route.
     */
    static Mono<ResponseEntity<byte[]>> teiError(Throwable error) {
        Throwable e = ErrorStatus.unwrap(error);
        if (e instanceof Empty) {
            return Mono.just(JsonResponses.status(HttpStatus.BAD_REQUEST, TeiCodec.error(e.getMessage(), "Empty")));
        }
        if (e instanceof Backend) {
            return Mono.just(JsonResponses.status(HttpStatus.FAILED_DEPENDENCY, TeiCodec.error("Backend error: " + e.getMessage(), "Backend")));
        }
        if (e instanceof ServerBusyException busy) {
            return Mono.just(ResponseEntity.status(HttpStatus.TOO_MANY_REQUESTS).contentType(org.springframework.http.MediaType.APPLICATION_JSON)
                    .header("Retry-After", String.valueOf(Math.max(1, busy.retryAfter().toSeconds())))
                    .body(TeiCodec.error("Model is overloaded", "Overloaded")));
        }
        if (e instanceof ModelNotReadyException) {
            return Mono.just(JsonResponses.status(HttpStatus.SERVICE_UNAVAILABLE, TeiCodec.error(e.getMessage(), "Unhealthy")));
        }
        int status = ErrorStatus.httpStatus(e);
        if (e instanceof InferenceException && status >= 400 && status < 500) {
            HttpStatus answer = status == 400 ? HttpStatus.UNPROCESSABLE_ENTITY : HttpStatus.valueOf(status);
            return Mono.just(JsonResponses.status(answer, TeiCodec.error("Input validation error: " + e.getMessage(), "Validation")));
        }
        return Mono.error(error);
    }

    // ------------------------------------------------------------------ HuggingFace Inference API

    static final String TOP_K = "top_k";
    static final String TRUNCATION = "truncation";
    static final String DIRECTION = "truncation_direction";
    static final String FUNCTION = "function_to_apply";

    @PostMapping("/models/{model}")
    public Mono<ResponseEntity<byte[]>> hfInference(@PathVariable String model, ServerHttpRequest request) {
        AtomicReference<HfRequest> decoded = new AtomicReference<>();
        Mono<DataPlane.Texts> texts = bodies.read(request).flatMap(bytes -> RequestBodies.decode(bytes, b -> {
            HfInferenceCodec.Request hf = HfInferenceCodec.decode(b);
            ServedModel served = registry.resolve(model, null);
            if (served.task() == null || served.encoder() == null) {
                throw new InvalidInputException("Model " + model + " is not a text model (no tokenizer.json or id2label)");
            }
            Map<String, Object> parameters = hf.parameters();
            if (!parameters.containsKey(ZeroShot.CANDIDATES) && served.reading().entailment() >= 0 && !hf.rows().paired()) {
                throw new InvalidInputException("Model " + model + " classifies zero-shot (an NLI model): send the labels to choose "
                        + "from as parameters.candidate_labels, or pairs {\"text\", \"text_pair\"} to classify them");
            }
            Object function = parameters.get(FUNCTION);
            decoded.set(new HfRequest(hf.batch(), topK(parameters.get(TOP_K)), function == null ? null : Scores.Function.of(function)));
            return new DataPlane.Texts(hf.rows(), parameters);
        }));
        return plane.predict(origin("hf_inference", request), model, null, texts)
                .map(c -> ok(hfAnswer(c, decoded.get()), c));
    }

    /** What the answer of an Inference API call depends on besides the classification. */
    private record HfRequest(boolean batch, int topK, Scores.Function function) {
    }

    private static byte[] hfAnswer(Classification c, HfRequest hf) {
        Task task = c.task();
        List<Object> answers = new ArrayList<>(c.predictions().size());
        if (task instanceof TokenClassification || task instanceof ZeroShot) {
            for (Prediction p : c.predictions()) {
                answers.add(task instanceof ZeroShot ? zeroShot(task, p) : task.answer(p));
            }
            return HfInferenceCodec.encode(answers, hf.batch());
        }
        int width = task.labels().size();
        long[] shape = c.logits().shape();
        if (shape.length != 2 || shape[1] != width) {
            throw new InvalidInputException("Model " + c.model() + " answers " + java.util.Arrays.toString(shape)
                    + ", not one score per label: it is no text classifier");
        }
        Scores.Function f = hf.function() != null ? hf.function() : Scores.Function.defaultFor(task.problemType(), width);
        for (int r = 0; r < c.predictions().size(); r++) {
            answers.add(Scores.ranked(task.labels(), Scores.apply(c.logits().floats(), r, width, f), hf.topK(), false));
        }
        // a text classification answers a list per input, a single input's list inside a list
        return HfInferenceCodec.encode(answers, true);
    }

    /** Zero-shot as the current client parses it: {@code [{"label", "score"}, ...]}, highest first. */
    private static List<Map<String, Object>> zeroShot(Task task, Prediction p) {
        List<Map<String, Object>> out = new ArrayList<>(p.labels().size());
        for (String label : p.labels()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("label", label);
            m.put("score", p.scores()[task.labels().indexOf(label)]);
            out.add(m);
        }
        return out;
    }

    private static int topK(Object value) {
        if (value == null) {
            return Integer.MAX_VALUE;
        }
        if (!(value instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue()) || n.doubleValue() < 1) {
            throw new InvalidInputException("Parameter top_k must be a positive integer, was " + value);
        }
        return (int) Math.min(Integer.MAX_VALUE, n.longValue());
    }

    // ------------------------------------------------------------------ shared

    private static DataPlane.Origin origin(String endpoint, ServerHttpRequest request) {
        return DataPlane.Origin.weighted(endpoint, request.getHeaders().getFirst(RevisionWeights.STICKY_HEADER));
    }

    private static ResponseEntity<byte[]> ok(byte[] body, Classification c) {
        return JsonResponses.ok(body, c.version());
    }
}
