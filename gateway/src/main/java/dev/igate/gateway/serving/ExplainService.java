package dev.igate.gateway.serving;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import dev.igate.explainer.ExplainOptions;
import dev.igate.explainer.TextExplainer;
import dev.igate.gateway.ExplainerProperties;
import dev.igate.gateway.IgateProperties;
import dev.igate.gateway.model.ModelRegistry;
import dev.igate.gateway.model.ServedModel;
import dev.igate.protocol.Explanation;
import dev.igate.protocol.InvalidInputException;
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
    public Mono<Result> explain(String model, String version, List<String> texts, Map<String, Object> parameters) {
        return Mono.defer(() -> {
            ServedModel served = registry.resolve(model, version);
            if (texts.isEmpty()) {
                throw new InvalidInputException("No text to explain");
            }
            if (texts.size() > 64) {
                throw new InvalidInputException("Explain takes at most 64 texts per request, got " + texts.size());
            }
            ExplainOptions options = ExplainOptions.from(parameters, properties.defaultSteps(), properties.maxSteps());
            ExplainOptions effective = options.internalBatchSize() == 0 && properties.internalBatchSize() > 0
                    ? new ExplainOptions(options.target(), options.steps(), options.method(), options.baseline(),
                    options.gradients(), options.mergeSubwords(), properties.internalBatchSize())
                    : options;
            return Mono.fromFuture(() -> pool.supply(() -> run(served, texts, effective)));
        });
    }

    private Result run(ServedModel served, List<String> texts, ExplainOptions options) {
        long start = System.nanoTime();
        List<Explanation> out = new ArrayList<>(texts.size());
        // the version is not closed under an explanation: its tokenizer and gradient sessions are in use
        try (ServedModel.Lease lease = served.lease()) {
            TextExplainer explainer = served.explainer();
            for (String text : texts) {
                out.add(explainer.explain(text, options));
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
