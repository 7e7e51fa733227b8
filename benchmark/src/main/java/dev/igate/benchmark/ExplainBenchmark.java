package dev.igate.benchmark;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

import dev.igate.demo.DemoRepository;
import dev.igate.explainer.Attribution;
import dev.igate.explainer.IntegratedGradients;
import dev.igate.explainer.Quadrature;
import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.SessionSettings;
import dev.igate.protocol.Tensor;
import dev.igate.transformer.TextEncoder;
import dev.igate.transformer.TokenBatch;

/**
 * Explain latency on the demo model at 50 Gauss-Legendre steps, for a 16-token and a 128-token
 * text: the gradient-graph method, the black-box method, and one forward pass of the served
 * model over a 50-row batch of the same text (the cost floor of 50 path points).
 *
 * <p>Run: {@code ./benchmark.sh explain} (or this class's main with the demo repository root).
 */
public final class ExplainBenchmark {

    static final String SEED = "Risk assessment implications of site-specific oral relative bioavailability.";

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args.length > 0 ? args[0] : "models").toAbsolutePath();
        int threads = Integer.parseInt(System.getProperty("threads", "0"));
        DemoRepository.ensure(root);
        Path dir = root.resolve(DemoRepository.MODEL_NAME).resolve("1");
        SessionSettings settings = new SessionSettings("auto", threads, 1, "all");
        String longText = String.join(" ", Collections.nCopies(40, "Oral bioavailability of arsenic in soil."));

        try (TextEncoder encoder = TextEncoder.load(dir.resolve("tokenizer.json"), 128);
             OnnxModel model = OnnxModel.load(dir.resolve("model.onnx"), settings);
             IntegratedGradients ig = IntegratedGradients.prepare(dir.resolve("model.onnx"), "logits", settings)) {
            System.out.printf(Locale.ROOT, "%nExplain latency, demo model v1, 50 Gauss-Legendre steps, %s, %d cores%n",
                    model.provider().ortName(), Runtime.getRuntime().availableProcessors());
            System.out.printf(Locale.ROOT, "%-8s %16s %16s %16s %12s %14s%n", "tokens", "forward 50 rows", "IG graph",
                    "IG black-box", "graph/fwd", "blackbox/graph");
            for (String text : List.of(SEED, longText)) {
                TokenBatch batch = encoder.encode(List.of(text));
                long[] ids = batch.ids(0);
                long[] baseline = ids.clone();
                for (int i = 1; i < ids.length - 1; i++) {
                    baseline[i] = encoder.padId();
                }
                IntegratedGradients.Sample sample = new IntegratedGradients.Sample(ids, batch.mask(0), batch.types(0), baseline);
                Quadrature q = Quadrature.of(Quadrature.GAUSS_LEGENDRE, 50);
                List<Tensor> rows50 = repeat(ids, batch.mask(0), batch.types(0), 50);
                double forward = median(7, () -> model.run(rows50, List.of("logits")));
                double graph = median(5, () -> ig.attribute(sample, 0, q, IntegratedGradients.GRAPH, 0));
                // at 128 tokens one black-box explanation is 12,800 model rows (minutes on 2 cores): time it once, unwarmed
                double blackbox = ids.length > 32
                        ? once(() -> ig.attribute(sample, 0, q, IntegratedGradients.BLACKBOX, 0))
                        : median(3, () -> ig.attribute(sample, 0, q, IntegratedGradients.BLACKBOX, 0));
                Attribution a = ig.attribute(sample, 0, q, IntegratedGradients.GRAPH, 0);
                System.out.printf(Locale.ROOT, "%-8d %13.1f ms %13.1f ms %13.1f ms %11.2fx %13.1fx   (delta %.2e)%n",
                        ids.length, forward, graph, blackbox, graph / forward, blackbox / graph, a.delta());
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

    static double once(Supplier<?> work) {
        long t0 = System.nanoTime();
        work.get();
        return (System.nanoTime() - t0) / 1e6;
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
