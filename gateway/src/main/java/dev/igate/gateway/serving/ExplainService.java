package dev.igate.gateway.serving;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import dev.igate.explainer.ExplainOptions;
import dev.igate.explainer.TextExplainer;
import dev.igate.gateway.ExplainerProperties;
import dev.igate.gateway.IgateProperties;
import dev.igate.gateway.model.ModelRegistry;
import dev.igate.gateway.model.ServedModel;
import dev.igate.protocol.Explanation;
import dev.igate.predictor.batching.BatchJob;
import dev.igate.predictor.batching.InstanceScheduler;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.TextRows;
import dev.igate.protocol.ServerBusyException;
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

    public ExplainService(ModelRegistry registry, MeterRegistry meters, IgateProperties properties) {
        this.registry = registry;
        this.meters = meters;
        this.properties = properties.explainer();
        this.pool = new BoundedPool("explain", this.properties.concurrency(), this.properties.queueCapacity(), "explanations",
                Duration.ofSeconds(5));
    }

    /**
     * Explains each text with a model version (null = the model's default).
     *
     * @param parameters the request's parameters: target, n_steps, method, baseline, gradients,
     *                   merge_subwords, internal_batch_size
     */
    public Mono<Result> explain(String model, String version, TextRows rows, Map<String, Object> parameters) {
        return Mono.defer(() -> {
            ServedModel served = registry.resolve(model, version);
            if (rows.paired() || parameters.containsKey(dev.igate.transformer.ZeroShot.CANDIDATES)
                    || parameters.containsKey(dev.igate.transformer.Rerank.QUERY)) {
                throw new dev.igate.protocol.NotImplementedException("Explaining pairs of texts, zero-shot labels and rerank scores "
                        + "is not served yet: explain single texts with the model's own labels");
            }
            List<String> texts = rows.texts();
            if (texts.isEmpty()) {
                throw new InvalidInputException("No text to explain");
            }
            if (texts.size() > 64) {
                throw new InvalidInputException("Explain takes at most 64 texts per request, got " + texts.size());
            }
            ExplainOptions options = ExplainOptions.from(parameters, properties.defaultSteps(), properties.maxSteps());
            ExplainOptions effective = options.internalBatchSize() == 0 && properties.internalBatchSize() > 0
                    ? new ExplainOptions(options.target(), options.steps(), options.method(), options.baseline(),
                    options.gradients(), options.mergeSubwords(), properties.internalBatchSize(), options.adaptive())
                    : options;
            Watch watch = new Watch(System.nanoTime() + properties.timeout().toNanos(),
                    () -> stopped(served.name(), "cancelled"), () -> stopped(served.name(), "timed_out"));
            return Mono.fromFuture(() -> pool.supply(() -> run(served, texts, effective, watch)))
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

        Watch(long deadline) {
            this(deadline, () -> { }, () -> { });
        }

        /** @param onCancelled and {@code onTimedOut}: told once when the watch stops the work */
        Watch(long deadline, Runnable onCancelled, Runnable onTimedOut) {
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
                    return scheduler.submit(job);
                }
            };
        }
    }

    private void stopped(String model, String reason) {
        Counter.builder("igate.explanations.stopped").description("explanations stopped before their end: the client went away, or igate.explainer.timeout passed")
                .tag("model_name", model).tag("reason", reason).register(meters).increment();
    }

    private Result run(ServedModel served, List<String> texts, ExplainOptions options, Watch watch) {
        long start = System.nanoTime();
        List<Explanation> out = new ArrayList<>(texts.size());
        // the version is not closed under an explanation: its tokenizer and gradient sessions are in use
        try (ServedModel.Lease lease = served.lease()) {
            watch.check(properties.timeout());
            TextExplainer explainer = served.explainer();
            long work = 0;
            List<TextExplainer.Tokenized> tokenized = new ArrayList<>(texts.size());
            for (String text : texts) {
                TextExplainer.Tokenized t = explainer.tokenize(text);
                tokenized.add(t);
                work += explainer.workTokens(t, options);
            }
            if (work > properties.maxWorkTokens()) {
                throw new InvalidInputException("Explanation would cost " + work + " model tokens (texts x path rows x tokens;"
                        + " the black-box method runs 2 x tokens rows per step), more than igate.explainer.max-work-tokens ("
                        + properties.maxWorkTokens() + "): ask for fewer texts, shorter texts or fewer n_steps");
            }
            InstanceScheduler via = watch.around(explainer.scheduler(), properties.timeout());
            for (TextExplainer.Tokenized text : tokenized) {
                out.add(explainer.explain(text, options, via));
            }
        }
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
