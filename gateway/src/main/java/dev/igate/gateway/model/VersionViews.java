package dev.igate.gateway.model;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import dev.igate.protocol.ModelNotFoundException;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * What the serving versions show outside: their queue gauges (what autoscaling reads) and Triton's
 * statistics, by "name/version". Only versions that serve are shown, each by the copy that serves
 * it now.
 */
final class VersionViews {

    private final MeterRegistry meters;
    private final Map<String, List<Gauge>> gauges = new ConcurrentHashMap<>();
    /** Triton's statistics per serving version, by "name/version". */
    private final Map<String, TritonStatistics> statistics = new ConcurrentHashMap<>();

    VersionViews(MeterRegistry meters) {
        this.meters = meters;
    }

    /**
     * Shows the versions of a model that serve in {@code fresh}, in place of those of {@code old}
     * (null at start-up; {@code fresh} null for an unload): a version that left, or no longer
     * serves, loses its gauges (which hold the retired copy) and its statistics. Called when
     * {@code fresh} takes over, never before.
     */
    void publish(String name, Map<String, VersionState> fresh, Map<String, VersionState> old) {
        if (old != null) {
            for (Map.Entry<String, VersionState> v : old.entrySet()) {
                VersionState now = fresh == null ? null : fresh.get(v.getKey());
                if (now == null || !now.isReady()) {
                    removeGauges(name + "/" + v.getKey());
                    statistics.remove(name + "/" + v.getKey());
                }
            }
        }
        if (fresh == null) {
            return;
        }
        for (Map.Entry<String, VersionState> v : fresh.entrySet()) {
            ServedModel model = v.getValue().model();
            if (model == null || model.statistics().isEmpty()) {
                continue;
            }
            String key = name + "/" + v.getKey();
            // a reloaded version's gauges must read the new copy: Micrometer would hand back the old gauges
            removeGauges(key);
            gauges.put(key, BatchMetrics.queueGauges(meters, name, v.getKey(), model::inFlight, model::queueDepth,
                    () -> model.expectedQueueWait().toNanos() / 1e9));
            statistics.put(key, model.statistics().get());
        }
    }

    private void removeGauges(String key) {
        List<Gauge> previous = gauges.remove(key);
        if (previous != null) {
            previous.forEach(meters::remove);
        }
    }

    /** Every serving version's statistics, by name and version. */
    List<TritonStatistics> all() {
        return statistics.entrySet().stream().sorted(Map.Entry.comparingByKey()).map(Map.Entry::getValue).toList();
    }

    /**
     * The statistics of a model's serving versions among {@code versions}, or of one of them.
     *
     * @throws ModelNotFoundException when {@code version} is named and does not serve
     */
    List<TritonStatistics> of(String name, Collection<String> versions, String version) {
        List<TritonStatistics> out = new ArrayList<>();
        for (String v : versions.stream().sorted().toList()) {
            if (version == null || version.equals(v)) {
                TritonStatistics s = statistics.get(name + "/" + v);
                if (s != null) {
                    out.add(s);
                }
            }
        }
        if (version != null && out.isEmpty()) {
            throw ModelNotFoundException.version(name, version);
        }
        return out;
    }

    /** One serving version's statistics, or null. */
    TritonStatistics of(String name, String version) {
        return statistics.get(name + "/" + version);
    }
}
