package dev.igate.gateway.serving;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

import dev.igate.gateway.IgateProperties;
import dev.igate.gateway.LimitsProperties;
import dev.igate.gateway.model.ModelRegistry;
import dev.igate.gateway.model.ServedModel;
import dev.igate.predictor.batching.Scheduling;
import dev.igate.protocol.Datatype;
import dev.igate.protocol.Answers;
import dev.igate.protocol.InferenceRequest;
import dev.igate.protocol.InferenceResponse;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Tensor;
import dev.igate.protocol.TextRows;
import dev.igate.protocol.v2.TextInputs;
import dev.igate.transformer.Prediction;
import dev.igate.transformer.Task;
import dev.igate.transformer.TextEncoder;
import dev.igate.transformer.TokenBatch;
import dev.igate.gateway.tracing.RequestTrace;
import dev.igate.gateway.tracing.Tracing;
import jakarta.annotation.PreDestroy;
import org.springframework.stereotype.Service;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * The data plane: takes an internal request, sends it through the model's stages — tokenizer
 * (preprocess pool), ONNX Runtime (the version's dynamic batcher), labels — and returns the
 * internal response. Nothing here blocks the caller's thread.
 */
@Service
public class InferenceService {

    public static final String PREDICT_OUTPUT = "predict";
    public static final String PROBABILITIES_OUTPUT = "probabilities";
    public static final String LOGITS_OUTPUT = "logits";
    public static final String RETURN_PROBABILITIES = "return_probabilities";
    private static final List<String> TEXT_OUTPUTS = List.of(PREDICT_OUTPUT, PROBABILITIES_OUTPUT, LOGITS_OUTPUT);

    private final ModelRegistry registry;
    private final ServingMetrics metrics;
    private final BoundedPool preprocess;
    private final LimitsProperties limits;
    private final IgateProperties properties;
    private final ResponseCache cache;

    private final PayloadLogger payloads;

    private final Tracing tracing;

    public InferenceService(ModelRegistry registry, ServingMetrics metrics, IgateProperties properties, ResponseCache cache,
                            PayloadLogger payloads, Tracing tracing) {
        this.tracing = tracing;
        this.payloads = payloads;
        this.registry = registry;
        this.properties = properties;
        this.cache = cache;
        this.metrics = metrics;
        this.limits = properties.limits();
        this.preprocess = new BoundedPool("preprocess", Runtime.getRuntime().availableProcessors(), 4096, "tokenizations",
                Duration.ofSeconds(1));
    }

    @PreDestroy
    void shutdown() {
        preprocess.shutdown();
    }

    /** Classifies texts (pairs of texts) with a model version (null = the model's default), as the request's parameters ask. */
    public Mono<Classification> classify(String model, String version, TextRows rows, Map<String, Object> parameters) {
        return Mono.deferContextual(context -> {
            dev.igate.gateway.PayloadLoggerProperties route = context.getOrDefault(PayloadLogger.ROUTE_LOGGER, null);
            ServedModel served = registry.resolve(model, version);
            if (!served.acceptsText()) {
                throw new InvalidInputException("Model " + model + " takes tensors, not text: it has no tokenizer.json "
                        + "or no id2label; send its inputs " + served.inputs().stream().map(t -> t.name()).toList());
            }
            if (rows.size() == 0) {
                throw new InvalidInputException("No text to classify");
            }
            checkRows(rows.size());
            long textBytes = characters(rows) * 2 + 16L * rows.size();
            return classifyWith(served, rows, Scheduling.DEFAULT, parameters).doOnNext(c -> payloads.encoded(served.name(), c.version(), "predict",
                    null, () -> {
                        tools.jackson.databind.node.ObjectNode body = dev.igate.protocol.Json.object();
                        tools.jackson.databind.node.ArrayNode instances = body.putArray("instances");
                        for (int i = 0; i < rows.size(); i++) {
                            if (rows.paired()) {
                                instances.addObject().put("text", rows.texts().get(i)).put("text_pair", rows.pairs().get(i));
                            } else {
                                instances.add(rows.texts().get(i));
                            }
                        }
                        return dev.igate.protocol.Json.write(body);
                    }, () -> dev.igate.protocol.v1.V1Codec.encodePredictions(c.v1(false)), textBytes + 64L * rows.size(), route,
                    tracing.of(context).headers().get("traceparent")));
        });
    }

    /**
     * Tokenizes (short texts where the request arrived, longer ones on the preprocess pool) and
     * queues the rows with other callers', then decodes labels where the request arrived. Call at
     * subscription.
     */
    private Mono<Classification> classifyWith(ServedModel served, TextRows rows, Scheduling scheduling,
                                              Map<String, Object> parameters) {
        return Mono.deferContextual(context -> classifyWith(served, rows, scheduling, parameters, tracing.of(context)));
    }

    /** As {@link #classifyWith(ServedModel, TextRows, Scheduling, Map)}, each stage a span of the request's trace. */
    private Mono<Classification> classifyWith(ServedModel served, TextRows rows, Scheduling untraced,
                                              Map<String, Object> parameters, RequestTrace trace) {
        Scheduling scheduling = trace == RequestTrace.NONE ? untraced : untraced.traced(trace);
        // the task as the request asks for it, and the rows the model runs for it, checked before any work is spent
        Task task = Task.forRequest(served.task(), served.name(), served.reading().pairs(), served.reading().entailment(), parameters);
        if (rows.paired() && !served.reading().pairs()) {
            throw new InvalidInputException("Model " + served.name() + " reads single texts, not pairs (text_pair): its config.json "
                    + "has no entailment label and no cross-encoder marker (igate.models." + served.name() + ".pairs says otherwise)");
        }
        TextRows modelRows = task.rows(rows);
        checkRows(modelRows.size());
        Cut cut = cut(parameters, task);
        Scheduler answers = AnswerThreads.current();
        return Mono.fromFuture(() -> tokenizeAndQueue(served, modelRows, cut, scheduling))
                .flatMap(queued -> Mono.fromFuture(queued.output()).map(output -> new Run(queued.tokens(), output)))
                // leave the batcher's thread at once: decoding and encoding 32 answers must not delay the next batch
                .publishOn(answers)
                .map(run -> {
                    long t1 = System.nanoTime();
                    List<Prediction> predictions = task.decode(run.output(), run.tokens());
                    long t2 = System.nanoTime();
                    metrics.postprocess(served.name(), t2 - t1);
                    trace.stage("igate.decode", t1, t2, "igate.task", task.getClass().getSimpleName());
                    return new Classification(served.name(), served.version(), task, predictions, run.output());
                });
    }

    /** Texts tokenized and queued: the tokens, and the queued job's own future (cancelling it takes the job out of the queue). */
    private record Queued(TokenBatch tokens, CompletableFuture<Tensor> output) {
    }

    /** Texts tokenized and run. */
    private record Run(TokenBatch tokens, Tensor output) {
    }

    /**
     * Texts of at most this many characters in all are tokenized where the request arrived: about
     * 30 µs of CPU for a sentence, less than handing it to the pool and waking a thread for it
     * (JSON parsing of the body runs there too). Longer ones go to the preprocess pool.
     */
    static final int INLINE_TOKENIZE_CHARS = 1024;

    private CompletableFuture<Queued> tokenizeAndQueue(ServedModel served, TextRows rows, Cut cut, Scheduling scheduling) {
        if (characters(rows) <= INLINE_TOKENIZE_CHARS) {
            try {
                return CompletableFuture.completedFuture(queue(served, rows, cut, scheduling));
            } catch (RuntimeException e) {
                return CompletableFuture.failedFuture(e);
            }
        }
        try {
            // refused before the hand-off to the tokenizer pool, not after it
            served.checkAdmission(scheduling);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        CompletableFuture<Queued> queueing = preprocess.supply(() -> queue(served, rows, cut, scheduling));
        // a copy: cancelling it leaves the pool's task alone, and the job it queued is cancelled below
        CompletableFuture<Queued> answer = queueing.copy();
        // a client that goes away while its texts are tokenized cancels the job they queue, so it never runs
        answer.whenComplete((q, e) -> {
            if (answer.isCancelled()) {
                queueing.thenAccept(job -> job.output().cancel(false));
            }
        });
        return answer;
    }

    /**
     * Tokenizes and queues in one step under a lease on the version, so the version cannot be
     * closed between the two (the queued job holds its own lease until it is answered).
     */
    private Queued queue(ServedModel served, TextRows rows, Cut cut, Scheduling scheduling) {
        try (ServedModel.Lease lease = served.lease()) {
            served.checkAdmission(scheduling);
            long t0 = System.nanoTime();
            TokenBatch batch = encode(served, rows, cut);
            long queued = System.nanoTime();
            if (scheduling.trace() instanceof RequestTrace traced) {
                traced.stage("igate.tokenize", t0, queued, "igate.rows", batch.rows(), "igate.tokens", batch.length());
            }
            CompletableFuture<Tensor> job = served.logits(batch, scheduling);
            RequestTrace trace = scheduling.trace() instanceof RequestTrace t ? t : RequestTrace.NONE;
            job.whenComplete((output, e) -> {
                if (e == null) {
                    // in the request's span: the latency's exemplar links to its trace
                    long nanos = System.nanoTime() - queued;
                    trace.scoped(() -> metrics.predict(served.name(), nanos));
                }
            });
            return new Queued(batch, job);
        }
    }

    private TokenBatch encode(ServedModel served, TextRows rows, Cut cut) {
        long t0 = System.nanoTime();
        TokenBatch batch;
        try {
            batch = cut.fromLeft() ? served.encoder().encodeFromLeft(rows.texts(), rows.pairs(), cut.strategy())
                    : rows.paired() ? served.encoder().encodePairs(rows.texts(), rows.pairs(), cut.strategy())
                    : served.encoder().encode(rows.texts());
        } catch (IllegalArgumentException e) {
            // a pair that cannot be cut the way the request asked
            throw new InvalidInputException(e.getMessage());
        }
        metrics.preprocess(served.name(), System.nanoTime() - t0);
        if (limits.strictLength() || !cut.allowed()) {
            for (int i = 0; i < batch.rows(); i++) {
                if (batch.truncated()[i]) {
                    throw new InvalidInputException((rows.paired() ? "Pair " : "Text ") + i + " is longer than the model's "
                            + served.encoder().maxLength() + " tokens (" + (cut.allowed() ? "igate.limits.strict-length is on"
                            : "the request's truncation is false") + ")");
                }
            }
        }
        return batch;
    }

    /**
     * How a request's texts are cut to the model's length: the request's {@code truncation}
     * ({@code longest_first}, {@code only_first}, {@code only_second}, as HuggingFace's tokenizers
     * name them; {@code true} the task's way; {@code false} not at all, a text too long is a 400),
     * else the task's way; from the end (the default) or, with {@code truncation_direction: left},
     * from the start.
     */
    record Cut(TextEncoder.Truncation strategy, boolean allowed, boolean fromLeft) {
    }

    static final String TRUNCATION = "truncation";
    static final String DIRECTION = "truncation_direction";

    static Cut cut(Map<String, Object> parameters, Task task) {
        Object direction = parameters.get(DIRECTION);
        boolean left = false;
        if (direction != null) {
            if (!(direction instanceof String d) || !(d.equalsIgnoreCase("left") || d.equalsIgnoreCase("right"))) {
                throw new InvalidInputException("Parameter truncation_direction must be left or right, was " + direction);
            }
            left = d.equalsIgnoreCase("left");
        }
        Object value = parameters.get(TRUNCATION);
        if (value == null || Boolean.TRUE.equals(value) || "true".equals(value)) {
            return new Cut(task.truncation(), true, left);
        }
        if (Boolean.FALSE.equals(value) || "false".equals(value)) {
            return new Cut(task.truncation(), false, left);
        }
        if (value instanceof String name) {
            try {
                return new Cut(TextEncoder.Truncation.of(name), true, left);
            } catch (IllegalArgumentException e) {
                throw new InvalidInputException("Parameter " + e.getMessage());
            }
        }
        throw new InvalidInputException("Parameter truncation must be longest_first, only_first, only_second, true or false, was " + value);
    }

    private static long characters(TextRows rows) {
        long chars = 0;
        for (String t : rows.texts()) {
            chars += t.length();
        }
        if (rows.paired()) {
            for (String t : rows.pairs()) {
                chars += t.length();
            }
        }
        return chars;
    }

    /** @throws InvalidInputException past {@code igate.limits.max-rows} */
    public void checkRows(long rows) {
        if (rows > limits.maxRows()) {
            throw new InvalidInputException("The request holds " + rows + " rows, more than the limit of " + limits.maxRows()
                    + " (igate.limits.max-rows)");
        }
    }

    /** @throws InvalidInputException past {@code igate.limits.max-elements} */
    public void checkElements(long elements) {
        if (elements > limits.maxElements()) {
            throw new InvalidInputException("The request holds " + elements + " tensor elements, more than the limit of "
                    + limits.maxElements() + " (igate.limits.max-elements)");
        }
    }

    /**
     * Triton's scheduling parameters of a request: {@code priority} (1 the highest level, 0 the
     * default) and {@code timeout} in microseconds (a request still queued then answers 503).
     *
     * @throws InvalidInputException when either is not a non-negative integer
     */
    static Scheduling scheduling(InferenceRequest request) {
        long priority = nonNegative(request.parameters().get("priority"), "priority");
        long timeout = nonNegative(request.parameters().get("timeout"), "timeout");
        return priority == 0 && timeout == 0 ? Scheduling.DEFAULT
                : new Scheduling(priority, timeout == 0 ? null : java.time.Duration.ofNanos(Math.multiplyExact(timeout, 1000L)));
    }

    private static long nonNegative(Object value, String name) {
        if (value == null) {
            return 0;
        }
        if (!(value instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue()) || n.doubleValue() < 0
                || n.doubleValue() > 1e15) {
            throw new InvalidInputException("Parameter " + name + " must be a non-negative integer, was " + value);
        }
        return n.longValue();
    }

    /**
     * Runs a V2 infer request. One BYTES input to a text model is classified as text; anything
     * else is fed to the ONNX Runtime session as raw tensors, checked against its inputs.
     */
    public Mono<InferenceResponse> infer(InferenceRequest request) {
        return Mono.deferContextual(context -> {
            dev.igate.gateway.PayloadLoggerProperties route = context.getOrDefault(PayloadLogger.ROUTE_LOGGER, null);
            // the payload log's events join the request's trace (CloudEvents' traceparent extension)
            String traceparent = tracing.of(context).headers().get("traceparent");
            ServedModel served = registry.resolve(request.model(), request.version());
            List<Tensor> inputs = request.inputs();
            long elements = 0;
            for (Tensor t : inputs) {
                elements += t.size();
                if (t.shape().length > 0) {
                    checkRows(t.shape()[0]);
                }
            }
            checkElements(elements);
            // scheduling parameters are checked whether or not the answer is cached: a hit answers as a miss would
            scheduling(request);
            if (!Boolean.TRUE.equals(properties.forModel(served.name()).responseCache())) {
                return run(request, served).doOnNext(response -> payloads.infer(served.name(), served.version(), "infer", request, response, route, traceparent));
            }
            // the loaded copy that serves is known here, after canary routing: it is part of the key
            ResponseCache.Key key = ResponseCache.key(request, served);
            InferenceResponse cached = cache.lookup(key, request, served.statistics());
            if (cached != null) {
                payloads.infer(served.name(), served.version(), "infer", request, cached, route, traceparent);
                return Mono.just(cached);
            }
            return run(request, served).doOnNext(response -> {
                cache.store(key, response);
                payloads.infer(served.name(), served.version(), "infer", request, response, route, traceparent);
            });
        });
    }

    private Mono<InferenceResponse> run(InferenceRequest request, ServedModel served) {
        List<Tensor> inputs = request.inputs();
        if (served.acceptsText() && TextInputs.areTexts(inputs)) {
            return inferText(request, served);
        }
        long t0 = System.nanoTime();
        Scheduler answers = AnswerThreads.current();
        return Mono.deferContextual(context -> {
            RequestTrace trace = tracing.of(context);
            return Mono.just(trace == RequestTrace.NONE ? scheduling(request) : scheduling(request).traced(trace));
        }).flatMap(scheduling -> Mono.fromFuture(() -> served.run(inputs, request.requestedOutputs(), scheduling)))
                .publishOn(answers)
                .map(outputs -> {
                    metrics.predict(served.name(), System.nanoTime() - t0);
                    return TopClasses.apply(new InferenceResponse(request.id(), served.name(), served.version(), outputs, Map.of()),
                            request.classifications(), served.task() == null ? null : served.task().labels());
                });
    }

    private Mono<InferenceResponse> inferText(InferenceRequest request, ServedModel served) {
        TextRows rows = TextInputs.rows(request.inputs());
        Tensor input = request.inputs().get(0);
        Set<String> outputs = new LinkedHashSet<>(request.requestedOutputs());
        for (String name : outputs) {
            if (!TEXT_OUTPUTS.contains(name)) {
                throw new InvalidInputException("Unknown output name " + name + ", expected one of " + TEXT_OUTPUTS);
            }
        }
        if (outputs.isEmpty()) {
            outputs.add(PREDICT_OUTPUT);
            if (request.flag(RETURN_PROBABILITIES)) {
                outputs.add(PROBABILITIES_OUTPUT);
            }
        }
        // a scalar text (the seed's bare "shape": -1) answers scalar-shaped, a list of n texts answers [n] (rerank: its top n)
        boolean scalar = input.shape().length == 0;
        return classifyWith(served, rows, scheduling(request), request.parameters())
                .map(c -> TopClasses.apply(new InferenceResponse(request.id(), c.model(), c.version(),
                        textOutputs(c, outputs, scalar ? new long[0] : new long[] {c.predictions().size()}), Map.of()),
                        request.classifications(), c.labels()));
    }

    private static List<Tensor> textOutputs(Classification c, Set<String> names, long[] rowsShape) {
        List<Tensor> out = new ArrayList<>();
        int width = c.labels().size();
        long[] matrixShape = new long[rowsShape.length + 1];
        System.arraycopy(rowsShape, 0, matrixShape, 0, rowsShape.length);
        matrixShape[rowsShape.length] = width;
        for (String name : names) {
            switch (name) {
                case PREDICT_OUTPUT -> out.add(Answers.tensor(PREDICT_OUTPUT, rowsShape, c.predictions().stream().map(c.task()::answer).toList()));
                case PROBABILITIES_OUTPUT -> {
                    float[] p = new float[c.predictions().size() * width];
                    for (int r = 0; r < c.predictions().size(); r++) {
                        System.arraycopy(c.predictions().get(r).scores(), 0, p, r * width, width);
                    }
                    out.add(Tensor.ofFloats(PROBABILITIES_OUTPUT, matrixShape, p));
                }
                default -> {
                    // the model's output as it shapes it, a scalar text's without its rows dimension (zero-shot and
                    // rerank: the rows the model ran, a text with each hypothesis, the query with each text)
                    long[] shape = c.logits().shape();
                    long[] logitsShape = rowsShape.length == 0 && shape[0] == 1 ? java.util.Arrays.copyOfRange(shape, 1, shape.length) : shape;
                    out.add(Tensor.ofFloats(LOGITS_OUTPUT, logitsShape, c.logits().floats()));
                }
            }
        }
        return out;
    }
}
