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
 * Gauss-Legendre steps (the F(x) and F(x') runs included) against one forward pass of the served
 * model over 50 rows of the same text, both on one session with every core. Batch-wide (int8)
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
        fixtures.put("demo MiniLM-L6 optimized (fused)", OnnxProtos.parse(OnnxModel.optimized(Files.readAllBytes(demo),
                new SessionSettings("cpu", 1, 1, "extended"), "demo")));
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
        System.out.printf(Locale.ROOT, "%-36s %12s %12s %14s %8s %s%n", "fixture", "forward ms", "graph ms", "row-by-row ms",
                "ratio", "graph from");
        Path dir = Files.createTempDirectory("igate-fixtures");
        for (Map.Entry<String, ModelProto> f : fixtures.entrySet()) {
            Path file = dir.resolve("model.onnx");
            Files.write(file, f.getValue().toByteArray());
            try (OnnxModel forward = OnnxModel.load(file, settings);
                 IntegratedGradients ig = IntegratedGradients.prepare(file, "logits", settings)) {
                List<Tensor> feeds = feeds(forward, ids, mask, STEPS);
                double forwardMs = ExplainBenchmark.median(7, () -> forward.run(feeds, List.of("logits")));
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
                System.out.printf(Locale.ROOT, "%-36s %12.1f %12.1f %14s %8.2f %s%n", f.getKey(), forwardMs, graphMs,
                        batchWide ? String.format(Locale.ROOT, "%.1f", rowByRow) : "-", graphMs / forwardMs,
                        ig.hasGradientGraph() ? ig.differentiatedGraph() : "none: " + ig.gradientUnavailableReason());
            }
        }
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
