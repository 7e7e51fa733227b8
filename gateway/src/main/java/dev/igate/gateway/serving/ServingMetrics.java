package dev.igate.gateway.serving;

import dev.igate.gateway.http.ErrorStatus;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import dev.igate.gateway.model.ModelRegistry;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import org.springframework.stereotype.Component;

/**
 * The serving metrics, named as KServe names them so existing dashboards work:
 * {@code request_preprocess_seconds}, {@code request_predict_seconds},
 * {@code request_postprocess_seconds} (histograms, label {@code model_name}), and
 * {@code igate_requests_total} by model, version, endpoint and outcome.
 */
@Component
public class ServingMetrics {

    public static final String PREPROCESS = "request.preprocess";
    public static final String PREDICT = "request.predict";
    public static final String POSTPROCESS = "request.postprocess";
    public static final String REQUESTS = "igate.requests";

    /** The tag of a model or version name the server does not have. */
    public static final String UNKNOWN = "unknown";

    private final MeterRegistry registry;
    private final ModelRegistry models;
    /**
     * The meters by their tags, so a request finds its meters in one map look-up instead of building
     * and registering an id for each (a few microseconds of an event loop's time per request).
     */
    private final Map<List<String>, Timer> timers = new ConcurrentHashMap<>();
    private final Map<List<String>, Counter> counters = new ConcurrentHashMap<>();

    public ServingMetrics(MeterRegistry registry, ModelRegistry models) {
        this.registry = registry;
        this.models = models;
    }

    public void preprocess(String model, long nanos) {
        timer(PREPROCESS, model).record(nanos, TimeUnit.NANOSECONDS);
    }

    public void predict(String model, long nanos) {
        timer(PREDICT, model).record(nanos, TimeUnit.NANOSECONDS);
    }

    public void postprocess(String model, long nanos) {
        timer(POSTPROCESS, model).record(nanos, TimeUnit.NANOSECONDS);
    }

    private Timer timer(String name, String model) {
        List<String> key = List.of(name, model);
        Timer known = timers.get(key);
        return known != null ? known : timers.computeIfAbsent(key, k -> Timer.builder(name)
                .description(name.substring("request.".length()) + " stage time per request")
                .tag("model_name", model)
                .publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1))
                .maximumExpectedValue(Duration.ofSeconds(30))
                .register(registry));
    }

    /**
     * Counts one answered request. Names the server does not have are counted as {@link #UNKNOWN}:
     * clients choose them, and every distinct tag value would be a meter kept for good.
     */
    public void request(String model, String version, String endpoint, Throwable error) {
        boolean knownModel = model != null && models.knows(model, null);
        List<String> tags = List.of(model == null ? "" : knownModel ? model : UNKNOWN,
                version == null ? "" : knownModel && models.knows(model, version) ? version : UNKNOWN, endpoint, outcome(error));
        Counter known = counters.get(tags);
        (known != null ? known : counters.computeIfAbsent(tags, t -> Counter.builder(REQUESTS)
                .description("answered requests by model, version, endpoint and outcome")
                .tag("model_name", t.get(0))
                .tag("model_version", t.get(1))
                .tag("endpoint", t.get(2))
                .tag("outcome", t.get(3))
                .register(registry)))
                .increment();
    }

    static String outcome(Throwable error) {
        return ErrorStatus.outcome(error == null ? 200 : ErrorStatus.httpStatus(error));
    }
}
