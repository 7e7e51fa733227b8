package dev.igate.gateway.serving;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import dev.igate.explainer.Faithfulness;
import dev.igate.gateway.IgateProperties;
import dev.igate.gateway.routing.AdminHandler;
import dev.igate.gateway.routing.ExplanationDrift;
import dev.igate.gateway.routing.Revision;
import dev.igate.gateway.routing.RevisionWeights;
import dev.igate.protocol.Explanation;
import dev.igate.protocol.TextRows;
import dev.igate.protocol.v1.V1Codec;
import dev.igate.protocol.v2.TextInputs;
import dev.igate.protocol.v2.V2Codec;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.annotation.PreDestroy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.stereotype.Component;

/**
 * Stable against canary explanations of the same inputs: every {@code igate.explainer.drift-every}-th
 * answered prediction of a model whose routes weigh a {@code stable} and a {@code canary} revision
 * has its first text explained by both (16 steps, words merged), one comparison at a time on a
 * thread of its own (a sample that finds one running is skipped: the cost stays bounded whatever
 * the traffic). Recorded per model: whether the labels agree, the top-k word overlap and the rank
 * correlation of the importances ({@code igate_explanation_drift_*}); the label-agreeing ones feed
 * {@link dev.igate.gateway.routing.CanaryGuard}'s explanation rule. Revisions with other
 * tokenizers (other words) are not compared.
 */
@Component
public class ExplanationDriftMonitor implements ExplanationDrift {

    private static final Logger log = LoggerFactory.getLogger(ExplanationDriftMonitor.class);
    /** Label-agreeing comparisons kept per model. */
    static final int KEPT = 50;

    private final ExplainService explain;
    private final RevisionWeights weights;
    private final MeterRegistry meters;
    private final int every;
    private final int topK;
    private final Map<String, AtomicLong> seen = new ConcurrentHashMap<>();
    private final Map<String, Deque<Double>> overlaps = new ConcurrentHashMap<>();
    private final ThreadPoolExecutor comparer = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS, new ArrayBlockingQueue<>(1),
            r -> {
                Thread t = new Thread(r, "explanation-drift");
                t.setDaemon(true);
                return t;
            }, new ThreadPoolExecutor.DiscardPolicy());

    public ExplanationDriftMonitor(ExplainService explain, RevisionWeights weights, MeterRegistry meters, IgateProperties properties) {
        this.explain = explain;
        this.weights = weights;
        this.meters = meters;
        this.every = properties.explainer().driftEvery();
        this.topK = properties.explainer().driftTopK();
    }

    @PreDestroy
    void shutdown() {
        comparer.shutdownNow();
    }

    /** Whether predictions are sampled at all. */
    boolean enabled() {
        return every > 0;
    }

    /** An answered prediction of {@code model}: counted, and every N-th compared. Cheap when off or between samples. */
    void answered(String model, TextRows rows) {
        if (every == 0 || rows == null || rows.size() == 0) {
            return;
        }
        if (seen.computeIfAbsent(model, m -> new AtomicLong()).incrementAndGet() % every != 0) {
            return;
        }
        String stable = null;
        Revision canary = null;
        for (Revision r : weights.revisions()) {
            if (model.equals(r.model()) && r.version() != null) {
                if ("stable".equals(r.revision())) {
                    stable = r.version();
                } else if (AdminHandler.CANARY.equals(r.revision())) {
                    canary = r;
                }
            }
        }
        if (stable == null || canary == null || stable.equals(canary.version())) {
            return;
        }
        TextRows first = first(rows);
        String s = stable;
        Revision c = canary;
        comparer.execute(() -> compare(c.routeId(), model, s, model, c.version(), first, true));
    }

    /** A route's target or a shadow's that is a model version of this server: {@code forward:/v1|v2/models/{m}/versions/{v}...}. */
    static final java.util.regex.Pattern LOCAL_VERSION = java.util.regex.Pattern.compile("^forward:/(v1|v2)/models/([^/:]+)/versions/([^/:]+)");

    @Override
    public void shadowed(String routeId, String primary, String shadow, byte[] body) {
        if (every == 0 || primary == null || shadow == null) {
            return;
        }
        if (seen.computeIfAbsent("shadow route " + routeId, m -> new AtomicLong()).incrementAndGet() % every != 0) {
            return;
        }
        java.util.regex.Matcher a = LOCAL_VERSION.matcher(primary);
        java.util.regex.Matcher b = LOCAL_VERSION.matcher(shadow);
        if (!a.find() || !b.find()) {
            return;
        }
        TextRows rows;
        try {
            rows = first(a.group(1).equals("v1") ? V1Codec.decodeRequest(body).rows()
                    : TextInputs.rows(V2Codec.decodeInfer(a.group(2), a.group(3), body).inputs()));
        } catch (RuntimeException e) {
            // not texts (token tensors, a binary body): nothing to explain
            return;
        }
        String model = a.group(2);
        String version = a.group(3);
        comparer.execute(() -> compare(routeId, model, version, b.group(2), b.group(3), rows, false));
    }

    private static TextRows first(TextRows rows) {
        return new TextRows(List.of(rows.texts().get(0)), rows.paired() ? List.of(rows.pairs().get(0)) : null);
    }

    /**
     * Explains the text with both versions and records the comparison under the route: a canary's
     * label-agreeing comparisons also feed {@link dev.igate.gateway.routing.CanaryGuard}'s rule.
     */
    private void compare(String route, String model, String stable, String otherModel, String other, TextRows rows, boolean canary) {
        try {
            Map<String, Object> parameters = Map.of("n_steps", 16L, "merge_subwords", true);
            Explanation a = explain.explain(model, stable, rows, parameters).block(Duration.ofMinutes(2)).explanations().get(0);
            Explanation b = explain.explain(otherModel, other, rows, parameters).block(Duration.ofMinutes(2)).explanations().get(0);
            if (!a.words().equals(b.words())) {
                return;
            }
            boolean agree = a.target().equals(b.target());
            double overlap = Faithfulness.overlap(a.importances(), b.importances(), topK);
            double rank = Faithfulness.spearman(a.importances(), b.importances());
            Counter.builder("igate.explanation.drift.samples").description("stable vs canary (or shadow) explanation comparisons")
                    .tags("model_name", model, "route", route, "labels", agree ? "agree" : "disagree").register(meters).increment();
            DistributionSummary.builder("igate.explanation.drift.overlap")
                    .description("top-k word overlap of stable and canary (or shadow) explanations")
                    .tags("model_name", model, "route", route).register(meters).record(overlap);
            DistributionSummary.builder("igate.explanation.drift.spearman")
                    .description("rank correlation of stable and canary (or shadow) importances")
                    .tags("model_name", model, "route", route).register(meters).record(Double.isNaN(rank) ? 0 : rank);
            if (canary && agree) {
                Deque<Double> kept = overlaps.computeIfAbsent(model, m -> new ArrayDeque<>());
                synchronized (kept) {
                    kept.addLast(overlap);
                    while (kept.size() > KEPT) {
                        kept.removeFirst();
                    }
                }
            }
        } catch (RuntimeException e) {
            // a busy or reloading version, say: this sample is lost, the next one is taken
            log.debug("Explanation drift sample of model {} failed: {}", model, e.getMessage());
        }
    }

    @Override
    public Optional<Summary> recent(String model) {
        Deque<Double> kept = overlaps.get(model);
        if (kept == null) {
            return Optional.empty();
        }
        synchronized (kept) {
            return kept.isEmpty() ? Optional.empty()
                    : Optional.of(new Summary(kept.size(), kept.stream().mapToDouble(Double::doubleValue).average().orElse(1)));
        }
    }

    @Override
    public void forget(String model) {
        overlaps.remove(model);
    }
}
