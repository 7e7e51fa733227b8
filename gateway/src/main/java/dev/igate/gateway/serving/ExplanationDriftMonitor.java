package dev.igate.gateway.serving;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
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
        String canary = null;
        for (Revision r : weights.revisions()) {
            if (model.equals(r.model()) && r.version() != null) {
                if ("stable".equals(r.revision())) {
                    stable = r.version();
                } else if (AdminHandler.CANARY.equals(r.revision())) {
                    canary = r.version();
                }
            }
        }
        if (stable == null || canary == null || stable.equals(canary)) {
            return;
        }
        TextRows first = new TextRows(List.of(rows.texts().get(0)), rows.paired() ? List.of(rows.pairs().get(0)) : null);
        String s = stable;
        String c = canary;
        comparer.execute(() -> compare(model, s, c, first));
    }

    private void compare(String model, String stable, String canary, TextRows rows) {
        try {
            Map<String, Object> parameters = Map.of("n_steps", 16L, "merge_subwords", true);
            Explanation a = explain.explain(model, stable, rows, parameters).block(Duration.ofMinutes(2)).explanations().get(0);
            Explanation b = explain.explain(model, canary, rows, parameters).block(Duration.ofMinutes(2)).explanations().get(0);
            if (!a.words().equals(b.words())) {
                return;
            }
            boolean agree = a.target().equals(b.target());
            double overlap = overlap(a.importances(), b.importances(), topK);
            double rank = Faithfulness.spearman(a.importances(), b.importances());
            Counter.builder("igate.explanation.drift.samples").description("stable vs canary explanation comparisons")
                    .tags("model_name", model, "labels", agree ? "agree" : "disagree").register(meters).increment();
            DistributionSummary.builder("igate.explanation.drift.overlap").description("top-k word overlap of stable and canary explanations")
                    .tag("model_name", model).register(meters).record(overlap);
            DistributionSummary.builder("igate.explanation.drift.spearman").description("rank correlation of stable and canary importances")
                    .tag("model_name", model).register(meters).record(Double.isNaN(rank) ? 0 : rank);
            if (agree) {
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

    /** The share of the top-k words (by |importance|) the two explanations have in common. */
    static double overlap(double[] a, double[] b, int k) {
        Set<Integer> top = top(a, k);
        int common = 0;
        for (int i : top(b, k)) {
            common += top.contains(i) ? 1 : 0;
        }
        return top.isEmpty() ? 1 : (double) common / top.size();
    }

    private static Set<Integer> top(double[] v, int k) {
        Integer[] order = new Integer[v.length];
        for (int i = 0; i < v.length; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (x, y) -> Double.compare(Math.abs(v[y]), Math.abs(v[x])));
        return new HashSet<>(List.of(order).subList(0, Math.min(k, v.length)));
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
