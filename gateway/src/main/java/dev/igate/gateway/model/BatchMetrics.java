package dev.igate.gateway.model;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import dev.igate.predictor.batching.BatchJob;
import dev.igate.predictor.batching.BatchListener;
import dev.igate.predictor.batching.Placement;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;

/**
 * The batcher's metrics for one model version (tags {@code model_name}, {@code model_version}):
 * batch-size distribution, queue wait, run time, queue depth, rejected / timed-out / cancelled
 * counts, and Triton's counters ({@code nv_inference_count} rows, {@code nv_inference_exec_count}
 * runs: average batch = count / exec_count; {@code nv_inference_queue_duration_seconds}, Triton's
 * microsecond counter in base units), and runs per instance ({@code igate_instance_runs}, label
 * {@code instance}: 0, 1, … or solo). Prometheus adds {@code _total} to counter names.
 */
public final class BatchMetrics implements BatchListener {

    private final DistributionSummary batchSize;
    private final Timer queueWait;
    private final Timer runTime;
    private final Counter rejected;
    private final Counter timedOut;
    private final Counter cancelled;
    private final Counter inferences;
    private final Counter executions;
    private final Counter queueMicros;
    private final MeterRegistry registry;
    private final Tags tags;
    private final java.util.Map<String, Counter> instanceRuns = new java.util.concurrent.ConcurrentHashMap<>();
    private final TritonStatistics statistics;

    private final dev.igate.gateway.tracing.Tracing tracing;
    private final String model;
    private final String version;

    public BatchMetrics(MeterRegistry registry, String model, String version) {
        this(registry, model, version, dev.igate.gateway.tracing.Tracing.off());
    }

    public BatchMetrics(MeterRegistry registry, String model, String version, dev.igate.gateway.tracing.Tracing tracing) {
        this.tracing = tracing;
        this.model = model;
        this.version = version;
        this.statistics = new TritonStatistics(model, version);
        Tags tags = Tags.of("model_name", model, "model_version", version);
        this.registry = registry;
        this.tags = tags;
        batchSize = DistributionSummary.builder("igate.batch.size").description("rows per ONNX Runtime run").tags(tags)
                .serviceLevelObjectives(1, 2, 4, 8, 16, 32, 64, 128).register(registry);
        queueWait = Timer.builder("igate.queue.wait").description("time a request waited for its batch").tags(tags)
                .publishPercentileHistogram().minimumExpectedValue(Duration.ofNanos(100_000))
                .maximumExpectedValue(Duration.ofSeconds(30)).register(registry);
        runTime = Timer.builder("igate.batch.run").description("ONNX Runtime time per batch").tags(tags)
                .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(1))
                .maximumExpectedValue(Duration.ofSeconds(30)).register(registry);
        rejected = Counter.builder("igate.requests.rejected").description("refused: queue full").tags(tags).register(registry);
        timedOut = Counter.builder("igate.requests.timed.out").description("answered 503: timeout expired in the queue")
                .tags(tags).register(registry);
        cancelled = Counter.builder("igate.requests.cancelled").description("caller went away while queued").tags(tags)
                .register(registry);
        inferences = Counter.builder("nv_inference_count").description("inferences (rows) run").tags(tags).register(registry);
        executions = Counter.builder("nv_inference_exec_count").description("model executions (batches) run").tags(tags)
                .register(registry);
        // Triton counts microseconds (nv_inference_queue_duration_us); Prometheus asks for base units
        queueMicros = Counter.builder("nv_inference_queue_duration_seconds").description("cumulative queue wait in seconds")
                .tags(tags).register(registry);
    }

    /**
     * Registers the version's scaling gauges: its work in flight (tokenizing, queued, running,
     * explaining), its queue depth, and the wait a request queued now is expected to have (what
     * max-queue-wait admits by).
     */
    public static List<Gauge> queueGauges(MeterRegistry registry, String model, String version, Supplier<Number> inFlight,
                                          Supplier<Number> depth, Supplier<Number> expectedWaitSeconds) {
        return List.of(
                Gauge.builder("igate.model.in.flight", inFlight).description("work in flight on the version: tokenizing, queued, running, explaining")
                        .tags("model_name", model, "model_version", version).register(registry),
                Gauge.builder("igate.queue.depth", depth).description("requests waiting for a batch")
                        .tags("model_name", model, "model_version", version).register(registry),
                Gauge.builder("igate.queue.expected.wait", expectedWaitSeconds).baseUnit("seconds")
                        .description("expected queue wait of a request queued now (queued tokens over the measured rate)")
                        .tags("model_name", model, "model_version", version).register(registry));
    }

    @Override
    public void executed(int jobs, int rows, long runNanos, Placement placement) {
        instanceRuns.computeIfAbsent(placement.label(), label -> Counter.builder("igate.instance.runs")
                .description("ONNX Runtime runs per instance of the version (solo: the whole device)")
                .tags(tags).tag("instance", label).register(registry)).increment();
        batchSize.record(rows);
        runTime.record(runNanos, TimeUnit.NANOSECONDS);
        inferences.increment(rows);
        executions.increment();
    }

    /** The run as a span linked to each traced request it served, and each one's queue wait (nothing when tracing is off). */
    @Override
    public void ran(List<? extends BatchJob<?>> jobs, int rows, int paddedLength, long startNanos, long runNanos, Placement placement) {
        if (!tracing.on()) {
            return;
        }
        List<Object> traces = new java.util.ArrayList<>(jobs.size());
        List<long[]> queued = new java.util.ArrayList<>(jobs.size());
        for (BatchJob<?> job : jobs) {
            traces.add(job.scheduling().trace());
            queued.add(new long[] {job.enqueuedNanos(), job.dequeuedNanos()});
        }
        tracing.run(traces, queued, startNanos, startNanos + runNanos, "igate.model", model, "igate.version", version,
                "igate.batch.rows", rows, "igate.batch.padded_tokens", (long) rows * paddedLength, "igate.instance", placement.label(),
                "igate.batch.kind", jobs.get(0) instanceof dev.igate.predictor.batching.InstanceJob<?> ? "explanation_piece" : "inference");
    }

    @Override
    public void inferred(int rows, long runNanos) {
        statistics.executed(rows, runNanos);
    }

    @Override
    public void finished(boolean succeeded, long queueNanos, long runNanos) {
        statistics.finished(succeeded, queueNanos, runNanos);
    }

    /** The same events in Triton's statistics extension's terms. */
    public TritonStatistics statistics() {
        return statistics;
    }

    @Override
    public void queued(long waitNanos) {
        queueWait.record(waitNanos, TimeUnit.NANOSECONDS);
        queueMicros.increment(waitNanos / 1e9);
    }

    @Override
    public void rejected() {
        rejected.increment();
        statistics.refused(0);
    }

    @Override
    public void timedOut() {
        timedOut.increment();
        statistics.refused(0);
    }

    @Override
    public void cancelled() {
        cancelled.increment();
    }
}
