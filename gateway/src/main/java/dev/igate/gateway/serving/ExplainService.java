package dev.igate.gateway.serving;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

import dev.igate.explainer.ExplainOptions;
import dev.igate.explainer.TextExplainer;
import dev.igate.gateway.ExplainerProperties;
import dev.igate.gateway.IgateProperties;
import dev.igate.gateway.model.ModelRegistry;
import dev.igate.gateway.model.ServedModel;
import dev.igate.gateway.tracing.RequestTrace;
import dev.igate.protocol.Explanation;
import dev.igate.predictor.batching.BatchJob;
import dev.igate.predictor.batching.InstanceScheduler;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.TextRows;
import dev.igate.protocol.ServerBusyException;
import dev.igate.predictor.batching.Scheduling;
import dev.igate.transformer.Prediction;
import dev.igate.transformer.Rerank;
import dev.igate.transformer.Task;
import dev.igate.transformer.TokenBatch;
import dev.igate.transformer.EntityTargets;
import dev.igate.transformer.TokenClassification;
import dev.igate.transformer.ZeroShot;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import jakarta.annotation.PreDestroy;
import org.springframework.stereotype.Service;
import reactor.core.publisher.Mono;

/**
 * Runs integrated-gradients explanations on their own bounded pool, apart from the prediction
 * workers, so a burst of explanations (hundreds of model rows each) cannot starve predictions.
 * A full queue answers 503 with Retry-After at once.
 */
@Service
public class ExplainService {

    public static final String EXPLAIN = "request.explain";

    /** Texts explained by one model version. */
    public record Result(String model, String version, List<Explanation> explanations) {
    }

    private final ModelRegistry registry;
    private final MeterRegistry meters;
    private final ExplainerProperties properties;
    private final BoundedPool pool;
    private final ExplanationCache cache;

    private final dev.igate.gateway.tracing.Tracing tracing;

    public ExplainService(ModelRegistry registry, MeterRegistry meters, IgateProperties properties, ExplanationCache cache,
                          dev.igate.gateway.tracing.Tracing tracing) {
        this.tracing = tracing;
        this.cache = cache;
        this.registry = registry;
        this.meters = meters;
        this.properties = properties.explainer();
        this.pool = new BoundedPool("explain", this.properties.concurrency(), this.properties.queueCapacity(), "explanations",
                Duration.ofSeconds(5));
    }

    static final String TOP_K = "top_k";
    static final String TARGETS = "targets";

    /**
     * The request parameters an explain call takes besides the explainer's own: the tasks' (zero-shot,
     * rerank, entities, cutting) and the transports' (V2's binary answers, Triton's scheduling).
     */
    static final java.util.Set<String> OTHER_PARAMETERS = java.util.Set.of(ZeroShot.CANDIDATES, ZeroShot.TEMPLATE, ZeroShot.MULTI_LABEL,
            Rerank.QUERY, Rerank.TOP_N, Rerank.RETURN_TEXT, Rerank.RAW_SCORES, EntityTargets.PARAMETER, TOP_K, TARGETS,
            TokenClassification.AGGREGATION_PARAMETER, TokenClassification.IGNORE_PARAMETER, InferenceService.TRUNCATION,
            InferenceService.DIRECTION, "binary_data_output", "priority", "timeout");

    /**
     * Explains each text with a model version (null = the model's default).
     *
     * @param parameters the request's parameters: target, n_steps, method, baseline, gradients,
     *                   merge_subwords, internal_batch_size
     */
    public Mono<Result> explain(String model, String version, TextRows rows, Map<String, Object> parameters) {
        return Mono.deferContextual(context -> {
            RequestTrace trace = tracing.of(context);
            ServedModel served = registry.resolve(model, version);
            List<String> texts = rows.texts();
            if (texts.isEmpty()) {
                throw new InvalidInputException("No text to explain");
            }
            if (texts.size() > 64) {
                throw new InvalidInputException("Explain takes at most 64 texts per request, got " + texts.size());
            }
            ExplainOptions.checkNames(parameters.keySet(), OTHER_PARAMETERS);
            ExplainOptions options = ExplainOptions.from(parameters, properties.defaultSteps(), properties.maxSteps());
            ExplainOptions effective = options.internalBatchSize() == 0 && properties.internalBatchSize() > 0
                    ? options.withInternalBatchSize(properties.internalBatchSize()) : options;
            Watch watch = new Watch(System.nanoTime() + properties.timeout().toNanos(),
                    () -> stopped(served.name(), "cancelled"), () -> stopped(served.name(), "timed_out"), trace);
            // the task as the request asks for it (zero-shot, rerank), checked before any work
            Task task = served.task() == null ? null
                    : Task.forRequest(served.task(), served.name(), served.reading().pairs(), served.reading().entailment(), parameters);
            if (rows.paired() && !served.reading().pairs()) {
                throw new InvalidInputException("Model " + served.name() + " reads single texts, not pairs (text_pair)");
            }
            InferenceService.Cut cut = task == null ? null : InferenceService.cut(parameters, task);
            // asked before of this loaded copy, the same texts and parameters: the answer it gave
            ExplanationCache.Key key = cache.enabled() ? ExplanationCache.key(served, rows, parameters) : null;
            Result cached = key == null ? null : cache.lookup(key);
            if (cached != null) {
                return Mono.just(cached);
            }
            return Mono.fromFuture(() -> pool.supply(() -> run(served, rows, task, cut, effective, parameters, watch)))
                    .doOnNext(result -> {
                        if (key != null) {
                            cache.store(key, result);
                        }
                    })
                    // the client went away: the work stops at its next piece
                    .doOnCancel(watch::cancel);
        });
    }

    /**
     * Stops an explanation between its pieces when its client has gone or its time is up: the
     * pieces go through this wrapper of the version's scheduler, which refuses the next one.
     */
    static final class Watch {
        private final long deadline;
        private final Runnable onCancelled;
        private final Runnable onTimedOut;
        private volatile boolean cancelled;
        private final RequestTrace trace;

        Watch(long deadline) {
            this(deadline, () -> { }, () -> { }, RequestTrace.NONE);
        }

        /**
         * @param onCancelled and {@code onTimedOut}: told once when the watch stops the work
         * @param trace       the explain request's trace: each piece's run is a span of it
         */
        Watch(long deadline, Runnable onCancelled, Runnable onTimedOut, RequestTrace trace) {
            this.trace = trace;
            this.deadline = deadline;
            this.onCancelled = onCancelled;
            this.onTimedOut = onTimedOut;
        }

        void cancel() {
            cancelled = true;
        }

        /** @throws java.util.concurrent.CancellationException when the client went away; ServerBusyException past the timeout */
        void check(Duration timeout) {
            if (cancelled) {
                onCancelled.run();
                throw new java.util.concurrent.CancellationException("the client went away");
            }
            if (System.nanoTime() > deadline) {
                onTimedOut.run();
                throw new ServerBusyException("Explanation took longer than " + timeout.toSeconds()
                        + " s (igate.explainer.timeout): ask for fewer texts or n_steps", Duration.ofSeconds(1));
            }
        }

        InstanceScheduler around(InstanceScheduler scheduler, Duration timeout) {
            return new InstanceScheduler() {
                @Override
                public <R> CompletableFuture<R> submit(BatchJob<R> job) {
                    check(timeout);
                    if (trace != RequestTrace.NONE) {
                        job.schedule(job.scheduling().traced(trace));
                    }
                    return scheduler.submit(job);
                }
            };
        }
    }

    private void stopped(String model, String reason) {
        Counter.builder("igate.explanations.stopped").description("explanations stopped before their end: the client went away, or igate.explainer.timeout passed")
                .tag("model_name", model).tag("reason", reason).register(meters).increment();
    }

    /**
     * Explanations to make of one text: its tokens, the output it attributes when fixed, and how its
     * answer is labelled; or several classes at once ({@code top_k}, {@code targets}), sharing their work.
     */
    private record Item(TextExplainer.Tokenized tokens, TextExplainer.Target target, UnaryOperator<Explanation> answer,
                        List<Integer> classes) {

        Item(TextExplainer.Tokenized tokens, TextExplainer.Target target, UnaryOperator<Explanation> answer) {
            this(tokens, target, answer, null);
        }
    }

    /**
     * What to explain for each row: the text (or pair) and the model's label; for zero-shot, the
     * text against the chosen label's hypothesis (the request's {@code target} among the candidates,
     * else the one zero-shot classification ranks first), attributing the entailment logit; for
     * rerank, the query with each text, attributing the relevance logit.
     */
    private List<Item> items(ServedModel served, TextExplainer explainer, TextRows rows, Task task, InferenceService.Cut cut,
                             ExplainOptions options, Map<String, Object> parameters) {
        List<Item> items = new ArrayList<>(rows.size());
        if (task instanceof ZeroShot zeroShot) {
            List<String> candidates = zeroShot.labels();
            if (options.target() != null && !options.target().isEmpty() && !candidates.contains(options.target())) {
                throw new InvalidInputException("target must be one of the candidate_labels " + candidates + ", was " + options.target());
            }
            TextRows expanded = zeroShot.rows(rows);
            TokenBatch all = served.encoder().encodePairs(expanded.texts(), expanded.pairs(), cut.strategy());
            // the zero-shot ranking first: a forward pass of every hypothesis, on this pool's thread
            List<Prediction> ranked = zeroShot.decode(served.logits(all, Scheduling.DEFAULT).join(), all);
            for (int i = 0; i < rows.size(); i++) {
                Prediction p = ranked.get(i);
                String label = options.target() != null && !options.target().isEmpty() ? options.target() : p.label();
                String hypothesis = expanded.pairs().get(i * candidates.size() + candidates.indexOf(label));
                items.add(new Item(tokenize(served, explainer, rows.texts().get(i), hypothesis, cut),
                        TextExplainer.Target.ofClass(served.reading().entailment()),
                        e -> e.answering(label, p.label(), candidates, p.scores())));
            }
        } else if (task instanceof Rerank rerank) {
            for (String text : rows.texts()) {
                items.add(new Item(tokenize(served, explainer, rerank.query(), text, cut), TextExplainer.Target.ofClass(0),
                        e -> e.answering("score", e.prediction(), e.labels(), e.probabilities())));
            }
        } else if (task instanceof TokenClassification tokens) {
            for (String text : rows.texts()) {
                TextExplainer.Tokenized t = tokenize(served, explainer, text, null, cut);
                // the text's entities first: a forward pass, on this pool's thread
                Prediction p = tokens.decode(served.logits(t.batch(), Scheduling.DEFAULT).join(), t.batch()).get(0);
                Prediction.Entity entity = EntityTargets.choose(parameters.get(EntityTargets.PARAMETER), p.entities(), text, tokens);
                float[] weights = EntityTargets.weights(t.batch(), text, entity, tokens.labels());
                items.add(new Item(t, TextExplainer.Target.ofWeights(weights),
                        e -> e.answering(entity.label(), entity.label() + ": " + entity.word(), e.labels(), e.probabilities())));
            }
        } else {
            for (int i = 0; i < rows.size(); i++) {
                TextExplainer.Tokenized t = tokenize(served, explainer, rows.texts().get(i), rows.paired() ? rows.pairs().get(i) : null, cut);
                List<Integer> targets = targets(served, task, t, parameters);
                items.add(new Item(t, null, UnaryOperator.identity(), targets));
            }
        }
        return items;
    }

    /**
     * The classes one text is explained for when the request asks for several: {@code top_k} (the k
     * most probable, highest first) or {@code targets: "predicted"} (what the model predicts: its top
     * label, or for a multi-label model every label over the threshold); null for one explanation.
     *
     * @throws InvalidInputException for a top_k that is no count of labels, another targets value, or either beside a target
     */
    private static List<Integer> targets(ServedModel served, Task task, TextExplainer.Tokenized t, Map<String, Object> parameters) {
        Object k = parameters.get(TOP_K);
        Object which = parameters.get(TARGETS);
        if (k == null && which == null) {
            return null;
        }
        if (parameters.get("target") != null) {
            throw new InvalidInputException("target names one class; top_k and targets ask for several: send one of them");
        }
        int labels = task.labels().size();
        if (k != null && (!(k instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue()) || n.intValue() < 1 || n.intValue() > labels)) {
            throw new InvalidInputException("top_k must be an integer between 1 and the model's " + labels + " labels, was " + k);
        }
        if (which != null && !"predicted".equals(which)) {
            throw new InvalidInputException("targets must be \"predicted\" (the label the model predicts, or every label over a "
                    + "multi-label model's threshold), was " + which);
        }
        // the text's scores first: a forward pass, on this pool's thread
        Prediction p = task.decode(served.logits(t.batch(), Scheduling.DEFAULT).join(), t.batch()).get(0);
        List<Integer> out = new ArrayList<>();
        if (k != null) {
            Integer[] order = new Integer[labels];
            for (int c = 0; c < labels; c++) {
                order[c] = c;
            }
            java.util.Arrays.sort(order, (a, b) -> Float.compare(p.scores()[b], p.scores()[a]));
            out.addAll(List.of(order).subList(0, ((Number) k).intValue()));
        } else {
            p.labels().forEach(label -> out.add(task.indexOf(label)));
        }
        return out;
    }

    /** A text (with its pair, or null) tokenized for the explainer, cut as the request asks. */
    private static TextExplainer.Tokenized tokenize(ServedModel served, TextExplainer explainer, String text, String pair,
                                                    InferenceService.Cut cut) {
        if (cut.fromLeft()) {
            try {
                return new TextExplainer.Tokenized(text, pair, served.encoder().encodeFromLeft(List.of(text),
                        pair == null ? null : List.of(pair), cut.strategy()));
            } catch (IllegalArgumentException e) {
                throw new InvalidInputException(e.getMessage());
            }
        }
        return pair == null ? explainer.tokenize(text) : explainer.tokenize(text, pair, cut.strategy());
    }

    private Result run(ServedModel served, TextRows rows, Task task, InferenceService.Cut cut, ExplainOptions options,
                       Map<String, Object> parameters, Watch watch) {
        long start = System.nanoTime();
        List<Explanation> out = new ArrayList<>(rows.size());
        // the version is not closed under an explanation: its tokenizer and gradient sessions are in use
        try (ServedModel.Lease lease = served.lease()) {
            watch.check(properties.timeout());
            TextExplainer explainer = served.explainer();
            long work = 0;
            List<Item> items = items(served, explainer, rows, task, cut, options, parameters);
            for (Item item : items) {
                if (!cut.allowed() && item.tokens().batch().truncated()[0]) {
                    throw new InvalidInputException("A text is longer than the model's " + served.encoder().maxLength()
                            + " tokens (the request's truncation is false)");
                }
                // several classes: at most one path each (the gradient graph's; the black-box methods share theirs)
                work += explainer.workTokens(item.tokens(), options) * (item.classes() == null ? 1 : item.classes().size());
            }
            if (work > properties.maxWorkTokens()) {
                throw new InvalidInputException("Explanation would cost " + work + " model tokens (texts x path rows x tokens;"
                        + " the black-box method runs 2 x tokens rows per step), more than igate.explainer.max-work-tokens ("
                        + properties.maxWorkTokens() + "): ask for fewer texts, shorter texts or fewer n_steps");
            }
            InstanceScheduler via = watch.around(explainer.scheduler(), properties.timeout());
            for (Item item : items) {
                if (item.classes() != null) {
                    out.addAll(explainer.explainClasses(item.tokens(), options, via, item.classes()));
                } else {
                    out.add(item.answer().apply(explainer.explain(item.tokens(), options, via, item.target())));
                }
            }
        }
        watch.trace.stage("igate.explain", start, System.nanoTime(), "igate.explainer", options.explainer(), "igate.explanations", out.size(),
                "igate.evaluations", out.stream().mapToLong(Explanation::evaluations).sum());
        Timer.builder(EXPLAIN).tag("model_name", served.name()).publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(10)).maximumExpectedValue(Duration.ofMinutes(5))
                .register(meters).record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
        return new Result(served.name(), served.version(), out);
    }

    @PreDestroy
    void shutdown() {
        pool.shutdown();
    }
}
