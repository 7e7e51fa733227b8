package dev.igate.gateway.routing;

import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import dev.igate.gateway.IgateProperties;
import dev.igate.gateway.RollbackProperties;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.stereotype.Component;

/**
 * Automatic rollback: for canaries whose route has {@code auto-rollback: true}, compares the
 * canary's 5xx rate and p99 latency with the stable revision's, route group by route group
 * (predictions with predictions, explanations with explanations), over a sliding window; when
 * a group's canary is past the thresholds of {@code igate.rollback}, with enough requests on both
 * sides, it sets the model's canary weights to 0 (the stable's to 100), logs it and counts it in
 * {@code igate_canary_rollbacks_total}.
 *
 * <p>Requests only add to a bounded sliding histogram ({@link SlidingLatencies}: memory does not
 * grow with the request rate); the comparison runs on the guard's own thread every
 * {@link #JUDGE_EVERY_MS} ms, never on an event loop.
 */
@Component
public class CanaryGuard implements DisposableBean {

    /** How often guarded canaries are judged. */
    static final long JUDGE_EVERY_MS = 250;

    private static final Logger log = LoggerFactory.getLogger(CanaryGuard.class);

    private final RevisionWeights weights;
    private final MeterRegistry meters;
    private final RollbackProperties settings;
    /** By model, then group, then revision. */
    private final Map<String, Map<String, Map<String, SlidingLatencies>>> windows = new ConcurrentHashMap<>();
    /** Models with a guarded canary that got requests, to judge. */
    private final Set<String> guarded = ConcurrentHashMap.newKeySet();
    private final ScheduledExecutorService judges = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "canary-guard");
        t.setDaemon(true);
        return t;
    });

    private final ExplanationDrift drift;

    public CanaryGuard(RevisionWeights weights, MeterRegistry meters, IgateProperties properties,
                       org.springframework.beans.factory.ObjectProvider<ExplanationDrift> drift) {
        this.drift = drift.getIfAvailable();
        this.weights = weights;
        this.meters = meters;
        this.settings = properties.rollback();
        judges.scheduleWithFixedDelay(this::judgeAll, JUDGE_EVERY_MS, JUDGE_EVERY_MS, TimeUnit.MILLISECONDS);
    }

    /** Records one answered request of a revision of a route group. Cheap: a few array writes. */
    void record(String model, String group, String revision, boolean guarded, long nanos, int status) {
        if (model == null || !(guarded || "stable".equals(revision))) {
            return;
        }
        windows.computeIfAbsent(model, m -> new ConcurrentHashMap<>())
                .computeIfAbsent(group == null ? "" : group, g -> new ConcurrentHashMap<>())
                .computeIfAbsent(revision, r -> new SlidingLatencies(settings.window()))
                .record(System.nanoTime(), nanos, status >= 500);
        if (guarded && AdminHandler.CANARY.equals(revision)) {
            this.guarded.add(model);
        }
    }

    private void judgeAll() {
        for (String model : guarded) {
            try {
                judge(model, System.nanoTime());
            } catch (RuntimeException e) {
                log.warn("Judging the canary of model {} failed", model, e);
            }
        }
    }

    @Override
    public void destroy() {
        judges.shutdownNow();
    }

    private void judge(String model, long now) {
        String reason = null;
        for (Map<String, SlidingLatencies> group : windows.getOrDefault(model, Map.of()).values()) {
            SlidingLatencies stable = group.get("stable");
            SlidingLatencies canary = group.get(AdminHandler.CANARY);
            if (stable != null && canary != null) {
                reason = verdict(stable.stats(now), canary.stats(now));
                if (reason != null) {
                    break;
                }
            }
        }
        if (reason == null && drift != null && settings.minExplanationOverlap() > 0) {
            // right for the wrong reasons: the labels agree, the words behind them do not
            reason = drift.recent(model).filter(d -> d.samples() >= settings.minExplanationSamples()
                    && d.meanOverlap() < settings.minExplanationOverlap())
                    .map(d -> String.format("explanations drifted: top-k word overlap %.2f over %d samples whose labels agree, below %.2f",
                            d.meanOverlap(), d.samples(), settings.minExplanationOverlap())).orElse(null);
        }
        if (reason == null) {
            return;
        }
        if (drift != null) {
            drift.forget(model);
        }
        boolean changed = false;
        Map<String, Map<String, Integer>> current = weights.effectiveWeights();
        for (Revision r : weights.revisions()) {
            if (model.equals(r.model())) {
                int target = AdminHandler.CANARY.equals(r.revision()) ? 0 : 100;
                changed |= current.getOrDefault(r.group(), Map.of()).getOrDefault(r.routeId(), 0) != target;
                weights.override(r.routeId(), target);
            }
        }
        windows.getOrDefault(model, Map.of()).values().forEach(group -> {
            SlidingLatencies canary = group.get(AdminHandler.CANARY);
            if (canary != null) {
                canary.clear();
            }
        });
        if (changed) {
            log.warn("Canary of model {} rolled back automatically: {} over the last {} s", model, reason,
                    settings.window().toSeconds());
            Counter.builder("igate.canary.rollbacks").tag("model_name", model)
                    .tag("reason", reason.startsWith("error") ? "errors" : reason.startsWith("explanations") ? "explanations" : "latency")
                    .register(meters).increment();
        }
    }

    /** Why the canary must go, or null while it holds up (or either side has too few requests to tell). */
    private String verdict(SlidingLatencies.Stats s, SlidingLatencies.Stats c) {
        if (s.requests() < settings.minRequests() || c.requests() < settings.minRequests()) {
            return null;
        }
        if (c.errorRate() - s.errorRate() > settings.maxErrorRateIncrease()) {
            return String.format("error rate %.1f%% vs stable %.1f%%", 100 * c.errorRate(), 100 * s.errorRate());
        }
        if (c.p99Nanos() > settings.maxLatencyRatio() * s.p99Nanos()) {
            return String.format("p99 %.1f ms vs stable %.1f ms", c.p99Nanos() / 1e6, s.p99Nanos() / 1e6);
        }
        return null;
    }
}
