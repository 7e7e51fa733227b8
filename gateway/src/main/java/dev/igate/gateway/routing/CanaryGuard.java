package dev.igate.gateway.routing;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
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
 * canary's 5xx rate and p99 latency with the stable revision's over a sliding window; past the
 * thresholds of {@code igate.rollback}, with enough requests on both sides, it sets the canary's
 * weight to 0 (the stable's to 100), logs it and counts it in {@code igate_canary_rollbacks_total}.
 *
 * <p>Requests only append their sample; the comparison (a sort of up to a minute of samples) runs
 * on the guard's own thread every {@link #JUDGE_EVERY_MS} ms. Judging on the request path cost a
 * measurable share of each answer's event-loop time (async-profiler at concurrency 1).
 */
@Component
public class CanaryGuard implements DisposableBean {

    /** How often guarded canaries are judged. */
    static final long JUDGE_EVERY_MS = 250;

    private static final Logger log = LoggerFactory.getLogger(CanaryGuard.class);

    record Sample(long at, long nanos, boolean error) {
    }

    private final RevisionWeights weights;
    private final MeterRegistry meters;
    private final RollbackProperties settings;
    private final Map<String, Deque<Sample>> windows = new ConcurrentHashMap<>();
    /** Models with a guarded canary that got requests, to judge. */
    private final Set<String> guarded = ConcurrentHashMap.newKeySet();
    private final ScheduledExecutorService judges = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "canary-guard");
        t.setDaemon(true);
        return t;
    });

    public CanaryGuard(RevisionWeights weights, MeterRegistry meters, IgateProperties properties) {
        this.weights = weights;
        this.meters = meters;
        this.settings = properties.rollback();
        judges.scheduleWithFixedDelay(this::judgeAll, JUDGE_EVERY_MS, JUDGE_EVERY_MS, TimeUnit.MILLISECONDS);
    }

    /** Records one answered request of a revision. Cheap: an append and a prune of expired samples. */
    void record(String model, String revision, boolean guarded, long nanos, int status) {
        if (model == null || !(guarded || "stable".equals(revision))) {
            return;
        }
        long now = System.nanoTime();
        Deque<Sample> window = windows.computeIfAbsent(model + "\u0000" + revision, k -> new ConcurrentLinkedDeque<>());
        window.addLast(new Sample(now, nanos, status >= 500));
        prune(window, now);
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

    private void prune(Deque<Sample> window, long now) {
        long oldest = now - settings.window().toNanos();
        for (Sample s = window.peekFirst(); s != null && s.at() < oldest; s = window.peekFirst()) {
            window.pollFirst();
        }
    }

    private void judge(String model, long now) {
        Deque<Sample> stable = windows.get(model + "\u0000stable");
        Deque<Sample> canary = windows.get(model + "\u0000" + AdminHandler.CANARY);
        if (stable == null || canary == null) {
            return;
        }
        prune(stable, now);
        List<Sample> s = new ArrayList<>(stable);
        List<Sample> c = new ArrayList<>(canary);
        if (s.size() < settings.minRequests() || c.size() < settings.minRequests()) {
            return;
        }
        double stableErrors = errorRate(s);
        double canaryErrors = errorRate(c);
        long stableP99 = p99(s);
        long canaryP99 = p99(c);
        String reason = null;
        if (canaryErrors - stableErrors > settings.maxErrorRateIncrease()) {
            reason = String.format("error rate %.1f%% vs stable %.1f%%", 100 * canaryErrors, 100 * stableErrors);
        } else if (canaryP99 > settings.maxLatencyRatio() * stableP99) {
            reason = String.format("p99 %.1f ms vs stable %.1f ms", canaryP99 / 1e6, stableP99 / 1e6);
        }
        if (reason == null) {
            return;
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
        canary.clear();
        if (changed) {
            log.warn("Canary of model {} rolled back automatically: {} over the last {} s", model, reason,
                    settings.window().toSeconds());
            Counter.builder("igate.canary.rollbacks").tag("model_name", model)
                    .tag("reason", reason.startsWith("error") ? "errors" : "latency").register(meters).increment();
        }
    }

    private static double errorRate(List<Sample> samples) {
        return samples.stream().filter(Sample::error).count() / (double) samples.size();
    }

    private static long p99(List<Sample> samples) {
        List<Long> nanos = new ArrayList<>(samples.stream().map(Sample::nanos).toList());
        Collections.sort(nanos);
        return nanos.get(Math.min(nanos.size() - 1, (int) Math.ceil(0.99 * nanos.size()) - 1));
    }
}
