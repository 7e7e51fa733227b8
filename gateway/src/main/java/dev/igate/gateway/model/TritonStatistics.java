package dev.igate.gateway.model;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

import dev.igate.grpc.v2.InferBatchStatistics;
import dev.igate.grpc.v2.InferStatistics;
import dev.igate.grpc.v2.ModelStatistics;
import dev.igate.grpc.v2.StatisticDuration;
import dev.igate.protocol.Json;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * One model version's cumulative statistics in Triton's statistics extension's terms, fed by the
 * batcher's listener beside the Prometheus meters ({@link BatchMetrics}): success and fail per
 * request (its queue wait and its batch's run), queue wait, compute per request and per batch
 * size, inference (rows) and execution (batch) counts, and the last inference's time. igate
 * times a batch's run as one span: compute_input and compute_output count the runs and report
 * 0 ns, their time being inside compute_infer's. Lock-free: the batcher's threads update it.
 */
public final class TritonStatistics {

    /** A cumulative count and duration. */
    static final class Duration {
        final LongAdder count = new LongAdder();
        final LongAdder ns = new LongAdder();

        void add(long n, long nanos) {
            count.add(n);
            ns.add(nanos);
        }
    }

    private final String name;
    private final String version;
    private final AtomicLong lastInference = new AtomicLong();
    private final LongAdder inferences = new LongAdder();
    private final LongAdder executions = new LongAdder();
    private final Duration success = new Duration();
    private final Duration fail = new Duration();
    private final Duration queue = new Duration();
    private final Duration computeInput = new Duration();
    private final Duration computeInfer = new Duration();
    private final Duration computeOutput = new Duration();
    private final Duration cacheHit = new Duration();
    private final Duration cacheMiss = new Duration();
    private final Map<Integer, Duration> batches = new ConcurrentHashMap<>();

    public TritonStatistics(String name, String version) {
        this.name = name;
        this.version = version;
    }

    void executed(int rows, long runNanos) {
        inferences.add(rows);
        executions.increment();
        lastInference.set(System.currentTimeMillis());
        batches.computeIfAbsent(rows, r -> new Duration()).add(1, runNanos);
    }

    void finished(boolean succeeded, long queueNanos, long runNanos) {
        (succeeded ? success : fail).add(1, queueNanos + runNanos);
        queue.add(1, queueNanos);
        computeInput.add(1, 0);
        computeInfer.add(1, runNanos);
        computeOutput.add(1, 0);
    }

    /** A request refused before it ran (queue full, timeout expired in the queue). */
    void refused(long queueNanos) {
        fail.add(1, queueNanos);
    }

    /** A response-cache lookup: hits never reach the batcher. */
    public void cache(boolean hit, long nanos) {
        (hit ? cacheHit : cacheMiss).add(1, nanos);
        if (hit) {
            success.add(1, nanos);
        }
    }

    public String name() {
        return name;
    }

    public String version() {
        return version;
    }

    private static StatisticDuration proto(Duration d) {
        return StatisticDuration.newBuilder().setCount(d.count.sum()).setNs(d.ns.sum()).build();
    }

    private static void json(ObjectNode parent, String field, Duration d) {
        ObjectNode o = parent.putObject(field);
        o.put("count", d.count.sum());
        o.put("ns", d.ns.sum());
    }

    /** As Triton's gRPC ModelStatistics message. */
    public ModelStatistics toProto() {
        ModelStatistics.Builder b = ModelStatistics.newBuilder().setName(name).setVersion(version)
                .setLastInference(lastInference.get()).setInferenceCount(inferences.sum()).setExecutionCount(executions.sum())
                .setInferenceStats(InferStatistics.newBuilder().setSuccess(proto(success)).setFail(proto(fail))
                        .setQueue(proto(queue)).setComputeInput(proto(computeInput)).setComputeInfer(proto(computeInfer))
                        .setComputeOutput(proto(computeOutput)).setCacheHit(proto(cacheHit)).setCacheMiss(proto(cacheMiss)));
        for (Map.Entry<Integer, Duration> e : new TreeMap<>(batches).entrySet()) {
            StatisticDuration none = StatisticDuration.newBuilder().setCount(e.getValue().count.sum()).build();
            b.addBatchStats(InferBatchStatistics.newBuilder().setBatchSize(e.getKey()).setComputeInput(none)
                    .setComputeInfer(proto(e.getValue())).setComputeOutput(none));
        }
        return b.build();
    }

    /** As Triton's REST {@code $model_stat} object (numbers as JSON numbers). */
    public ObjectNode toJson() {
        ObjectNode o = Json.object();
        o.put("name", name);
        o.put("version", version);
        o.put("last_inference", lastInference.get());
        o.put("inference_count", inferences.sum());
        o.put("execution_count", executions.sum());
        ObjectNode stats = o.putObject("inference_stats");
        json(stats, "success", success);
        json(stats, "fail", fail);
        json(stats, "queue", queue);
        json(stats, "compute_input", computeInput);
        json(stats, "compute_infer", computeInfer);
        json(stats, "compute_output", computeOutput);
        json(stats, "cache_hit", cacheHit);
        json(stats, "cache_miss", cacheMiss);
        ArrayNode perBatch = o.putArray("batch_stats");
        for (Map.Entry<Integer, Duration> e : new TreeMap<>(batches).entrySet()) {
            ObjectNode b = perBatch.addObject();
            b.put("batch_size", e.getKey());
            ObjectNode none = Json.object();
            none.put("count", e.getValue().count.sum());
            none.put("ns", 0);
            b.set("compute_input", none.deepCopy());
            json(b, "compute_infer", e.getValue());
            b.set("compute_output", none);
        }
        o.putArray("memory_usage");
        return o;
    }
}
