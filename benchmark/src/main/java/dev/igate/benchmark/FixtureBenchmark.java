package dev.igate.benchmark;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import ai.onnx.proto.OnnxMl.ModelProto;
import dev.igate.demo.DemoRepository;
import dev.igate.demo.DynamicQuantizer;
import dev.igate.demo.TinyEncoder;
import dev.igate.explainer.IntegratedGradients;
import dev.igate.explainer.Quadrature;
import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.SessionSettings;
import dev.igate.predictor.batching.InstanceScheduler;
import dev.igate.predictor.onnx.OnnxProtos;
import dev.igate.protocol.Tensor;
import dev.igate.transformer.TextEncoder;
import dev.igate.transformer.TokenBatch;

/**
 * The gradient method's cost per fixture (issue 15's goal: at most 4x one forward pass over the
 * n_steps path points): for each export style, opset, fused and int8 form of the test encoders and
 * of the demo model, the median time of one graph-method explanation of the seed sentence at 50
 * Gauss-Legendre steps (the F(x) and F(x') runs included, one session with every core) against one
 * forward pass of the same model over 50 rows of the same text in the fastest raw layout this
 * machine has ({@link #bestForward}: one all-core session, spinning or not, or a session per core). Batch-wide (int8)
 * models explain row by row, as they serve; their forward pass is shown batched (the hardware's
 * best) and row by row.
 *
 * <p>Run: {@code ./benchmark.sh fixtures}.
 */
public final class FixtureBenchmark {

    static final int STEPS = 50;

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args.length > 0 ? args[0] : "models").toAbsolutePath();
        DemoRepository.ensure(root);
        Path demo = root.resolve(DemoRepository.MODEL_NAME).resolve("1").resolve("model.onnx");
        ModelProto demoModel;
        try (var in = Files.newInputStream(demo)) {
            demoModel = OnnxProtos.parse(in);
        }
        Map<String, ModelProto> fixtures = new LinkedHashMap<>();
        for (TinyEncoder.Style style : TinyEncoder.Style.values()) {
            for (int opset : new int[] {11, 14, 17, 18}) {
                fixtures.put(style.name().toLowerCase(Locale.ROOT) + " opset " + opset, TinyEncoder.model(style, opset, 5));
            }
            fixtures.put(style.name().toLowerCase(Locale.ROOT) + " fused, opset 14", TinyEncoder.fused(style, 14, 5));
        }
        fixtures.put("bert int8 per channel, opset 17", DynamicQuantizer.quantize(TinyEncoder.model(TinyEncoder.Style.BERT, 17, 5), true));
        fixtures.put("demo MiniLM-L6 fp32", demoModel);
        fixtures.put("demo MiniLM-L6 optimized (fused)", OnnxModel.optimized(demoModel,
                new SessionSettings("cpu", 1, 1, "extended"), "demo"));
        fixtures.put("demo MiniLM-L6 int8 per tensor", DynamicQuantizer.quantize(demoModel, false));
        fixtures.put("demo MiniLM-L6 int8 per channel", DynamicQuantizer.quantize(demoModel, true));

        long[] ids;
        try (TextEncoder encoder = TextEncoder.load(demo.getParent().resolve("tokenizer.json"), 128)) {
            TokenBatch batch = encoder.encode(List.of(ExplainBenchmark.SEED));
            ids = batch.ids(0);
        }
        long[] mask = new long[ids.length];
        java.util.Arrays.fill(mask, 1);
        long[] baseline = ids.clone();
        for (int i = 1; i < baseline.length - 1; i++) {
            baseline[i] = 0;
        }
        IntegratedGradients.Sample sample = new IntegratedGradients.Sample(ids, mask, new long[ids.length], baseline);
        SessionSettings settings = new SessionSettings("cpu", 0, 1, "all");
        System.out.printf(Locale.ROOT, "%d cores; seed sentence, %d tokens; %d Gauss-Legendre steps; medians of 7 runs%n",
                Runtime.getRuntime().availableProcessors(), ids.length, STEPS);
        System.out.printf(Locale.ROOT, "%-36s %12s %12s %14s %8s %-10s %s%n", "fixture", "forward ms", "graph ms", "row-by-row ms",
                "ratio", "graph from", "reference");
        Path dir = Files.createTempDirectory("igate-fixtures");
        for (Map.Entry<String, ModelProto> f : fixtures.entrySet()) {
            Path file = dir.resolve("model.onnx");
            Files.write(file, f.getValue().toByteArray());
            try (OnnxModel forward = OnnxModel.load(file, settings);
                 IntegratedGradients ig = IntegratedGradients.prepare(file, "logits", settings)) {
                List<Tensor> feeds = feeds(forward, ids, mask, STEPS);
                // the reference: the fastest raw layout of the 50 rows on this machine, not the explainer's own
                Reference reference = bestForward(file, ids, mask);
                double forwardMs = reference.ms();
                boolean batchWide = dev.igate.predictor.BatchDependence.batchWideOperator(f.getValue()) != null;
                List<Tensor> one = feeds(forward, ids, mask, 1);
                double rowByRow = batchWide ? ExplainBenchmark.median(7, () -> {
                    for (int r = 0; r < STEPS; r++) {
                        forward.run(one, List.of("logits"));
                    }
                    return null;
                }) : Double.NaN;
                double graphMs = ig.hasGradientGraph() ? ExplainBenchmark.median(7, () -> ig.attribute(sample, 0,
                        Quadrature.of(Quadrature.GAUSS_LEGENDRE, STEPS), IntegratedGradients.GRAPH, 0, InstanceScheduler.CALLER_THREAD))
                        : Double.NaN;
                System.out.printf(Locale.ROOT, "%-36s %12.1f %12.1f %14s %8.2f %-10s %s%n", f.getKey(), forwardMs, graphMs,
                        batchWide ? String.format(Locale.ROOT, "%.1f", rowByRow) : "-", graphMs / forwardMs, reference.layout(),
                        ig.hasGradientGraph() ? ig.differentiatedGraph() : "none: " + ig.gradientUnavailableReason());
            }
        }
    }

    /**
     * One forward pass over the {@link #STEPS} rows in the fastest raw layout that uses every core:
     * one session with all cores as intra-op threads (spinning off, and on), or one single-threaded
     * session per core, each running its share of the rows at once.
     */
    record Reference(String layout, double ms) {
        Reference faster(Reference other) {
            return other.ms < ms ? other : this;
        }
    }

    static Reference bestForward(Path file, long[] ids, long[] mask) throws Exception {
        int cores = Runtime.getRuntime().availableProcessors();
        Reference best = new Reference("none", Double.MAX_VALUE);
        for (boolean spin : new boolean[] {false, true}) {
            try (OnnxModel one = OnnxModel.load(file, new SessionSettings("cpu", cores, 1, "all", spin))) {
                List<Tensor> feeds = feeds(one, ids, mask, STEPS);
                best = best.faster(new Reference(spin ? cores + "t spin" : cores + "t",
                        ExplainBenchmark.median(7, () -> one.run(feeds, List.of("logits")))));
            }
        }
        List<OnnxModel> sessions = new ArrayList<>();
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(cores);
        try {
            for (int i = 0; i < cores; i++) {
                sessions.add(OnnxModel.load(file, new SessionSettings("cpu", 1, 1, "all", false)));
            }
            List<List<Tensor>> shares = new ArrayList<>();
            for (int i = 0; i < cores; i++) {
                shares.add(feeds(sessions.get(i), ids, mask, STEPS / cores + (i < STEPS % cores ? 1 : 0)));
            }
            best = best.faster(new Reference(cores + "x1t", ExplainBenchmark.median(7, () -> {
                List<java.util.concurrent.Future<?>> runs = new ArrayList<>();
                for (int i = 0; i < cores; i++) {
                    OnnxModel s = sessions.get(i);
                    List<Tensor> share = shares.get(i);
                    runs.add(pool.submit(() -> s.run(share, List.of("logits"))));
                }
                for (java.util.concurrent.Future<?> r : runs) {
                    try {
                        r.get();
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }
                return null;
            })));
        } finally {
            pool.shutdown();
            sessions.forEach(OnnxModel::close);
        }
        return best;
    }

    static List<Tensor> feeds(OnnxModel session, long[] ids, long[] mask, int rows) {
        List<Tensor> all = ExplainBenchmark.repeat(ids, mask, new long[ids.length], rows);
        List<Tensor> out = new ArrayList<>();
        for (Tensor t : all) {
            if (session.inputs().stream().anyMatch(i -> i.name().equals(t.name()))) {
                out.add(t);
            }
        }
        return out;
    }
}
