package dev.igate.benchmark;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

import dev.igate.demo.DemoRepository;
import dev.igate.explainer.Attribution;
import dev.igate.explainer.IntegratedGradients;
import dev.igate.explainer.Quadrature;
import dev.igate.predictor.ExecutionProvider;
import dev.igate.predictor.InstanceLayout;
import dev.igate.predictor.ModelInstances;
import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.SessionSettings;
import dev.igate.predictor.batching.BatchJob;
import dev.igate.predictor.batching.BatchListener;
import dev.igate.predictor.batching.BatchingSettings;
import dev.igate.predictor.batching.DeviceGate;
import dev.igate.predictor.batching.DynamicBatcher;
import dev.igate.predictor.batching.InstanceJob;
import dev.igate.predictor.batching.OnnxBatchExecutor;
import dev.igate.protocol.Tensor;
import dev.igate.transformer.TextEncoder;
import dev.igate.transformer.TokenBatch;

/**
 * Explain latency on the demo model at 50 Gauss-Legendre steps, for a 16-token and a 128-token
 * text, run as the server runs it: the pieces of an explanation go through a dynamic batcher over
 * the version's instances behind a device gate. For the server's automatic layout (one 1-thread
 * instance per core) and for one instance spanning every core, it prints the gradient-graph
 * method, the black-box method (16 tokens only unless {@code -Dblackbox=all}), and the floor:
 * one forward pass of the served model over the 50 path points, spread over the instances.
 *
 * <p>Run: {@code ./benchmark.sh explain} (or this class's main with the demo repository root).
 */
public final class ExplainBenchmark {

    static final String SEED = "Risk assessment implications of site-specific oral relative bioavailability.";

    /** A model version's instances behind a gate and a batcher, as the server wires them. */
    record Rig(InstanceLayout layout, ModelInstances forward, DynamicBatcher<BatchJob<?>> batcher, IntegratedGradients ig)
            implements AutoCloseable {

        static Rig open(Path dir, InstanceLayout layout) throws Exception {
            SessionSettings base = new SessionSettings("cpu", 1, 1, "all", false);
            int cores = Runtime.getRuntime().availableProcessors();
            ModelInstances forward = ModelInstances.open(layout, base, s -> OnnxModel.load(dir.resolve("model.onnx"), s));
            DynamicBatcher<BatchJob<?>> batcher = new DynamicBatcher<>("explain", new BatchingSettings(32, 0, Duration.ZERO,
                    1024, Duration.ofMinutes(10)), new OnnxBatchExecutor(forward, "logits", 0), BatchListener.NONE,
                    new DeviceGate(cores), Math.min(cores, layout.threads()));
            IntegratedGradients ig = IntegratedGradients.prepare(dir.resolve("model.onnx"), "logits", base, layout);
            return new Rig(layout, forward, batcher, ig);
        }

        /** One forward pass over {@code rows} copies of a text, spread over the instances as the explainer spreads its points. */
        double forward(long[] ids, long[] mask, long[] types, int rows) {
            int k = layout.instances();
            List<CompletableFuture<Object>> parts = new ArrayList<>();
            for (int i = 0; i < k; i++) {
                int n = rows / k + (i < rows % k ? 1 : 0);
                List<Tensor> feeds = repeat(ids, mask, types, n);
                parts.add(batcher.submit(new InstanceJob<>(n, at -> forward.instance(at.instance()).run(feeds, List.of("logits")))));
            }
            long t0 = System.nanoTime();
            parts.forEach(CompletableFuture::join);
            return (System.nanoTime() - t0) / 1e6;
        }

        Attribution explain(IntegratedGradients.Sample sample, String method) {
            return ig.attribute(sample, 0, Quadrature.of(Quadrature.GAUSS_LEGENDRE, 50), method, 0, batcher);
        }

        @Override
        public void close() {
            batcher.close();
            ig.close();
            forward.close();
        }
    }

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args.length > 0 ? args[0] : "models").toAbsolutePath();
        boolean allBlackbox = "all".equals(System.getProperty("blackbox"));
        DemoRepository.ensure(root);
        Path dir = root.resolve(DemoRepository.MODEL_NAME).resolve("1");
        int cores = Runtime.getRuntime().availableProcessors();
        String longText = String.join(" ", Collections.nCopies(40, "Oral bioavailability of arsenic in soil."));
        List<InstanceLayout> layouts = new ArrayList<>(List.of(InstanceLayout.resolve(ExecutionProvider.CPU, cores, null, null, 0)));
        if (cores > 1) {
            layouts.add(new InstanceLayout(cores, 1, 0, false));
            layouts.add(new InstanceLayout(1, cores, 0, false));
        }

        try (TextEncoder encoder = TextEncoder.load(dir.resolve("tokenizer.json"), 128)) {
            System.out.printf(Locale.ROOT, "%nExplain latency, demo model v1, 50 Gauss-Legendre steps, CPU, %d cores; "
                    + "pieces through the batcher and device gate as in the server%n", cores);
            System.out.printf(Locale.ROOT, "%-44s %-7s %16s %14s %16s %11s%n", "layout", "tokens", "forward 50 rows",
                    "IG graph", "IG black-box", "graph/fwd");
            for (InstanceLayout layout : layouts) {
                try (Rig rig = Rig.open(dir, layout)) {
                    for (String text : List.of(SEED, longText)) {
                        TokenBatch batch = encoder.encode(List.of(text));
                        long[] ids = batch.ids(0);
                        long[] baseline = ids.clone();
                        for (int i = 1; i < ids.length - 1; i++) {
                            baseline[i] = encoder.padId();
                        }
                        IntegratedGradients.Sample sample = new IntegratedGradients.Sample(ids, batch.mask(0), batch.types(0), baseline);
                        double forward = median(7, () -> rig.forward(ids, batch.mask(0), batch.types(0), 50));
                        double graph = median(5, () -> rig.explain(sample, IntegratedGradients.GRAPH));
                        // at 128 tokens one black-box explanation is 12,800 model rows (minutes on 2 cores)
                        String blackbox = ids.length <= 32 || allBlackbox
                                ? String.format(Locale.ROOT, "%13.1f ms", median(ids.length <= 32 ? 3 : 1,
                                () -> rig.explain(sample, IntegratedGradients.BLACKBOX)))
                                : String.format(Locale.ROOT, "%16s", "-");
                        Attribution a = rig.explain(sample, IntegratedGradients.GRAPH);
                        System.out.printf(Locale.ROOT, "%-44s %-7d %13.1f ms %11.1f ms %s %10.2fx   (delta %.2e)%n",
                                layout.describe(), ids.length, forward, graph, blackbox, graph / forward, a.delta());
                    }
                }
            }
        }
    }

    public static List<Tensor> repeat(long[] ids, long[] mask, long[] types, int rows) {
        int seq = ids.length;
        long[] i = new long[rows * seq];
        long[] m = new long[rows * seq];
        long[] t = new long[rows * seq];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(ids, 0, i, r * seq, seq);
            System.arraycopy(mask, 0, m, r * seq, seq);
            System.arraycopy(types, 0, t, r * seq, seq);
        }
        long[] shape = {rows, seq};
        return new ArrayList<>(List.of(Tensor.ofLongs("input_ids", shape, i), Tensor.ofLongs("attention_mask", shape, m),
                Tensor.ofLongs("token_type_ids", shape, t)));
    }

    /** Median wall time in milliseconds of {@code runs} timed runs after one warm-up. */
    static double median(int runs, Supplier<?> work) {
        work.get();
        double[] ms = new double[runs];
        for (int i = 0; i < runs; i++) {
            long t0 = System.nanoTime();
            work.get();
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(ms);
        return ms[runs / 2];
    }
}
