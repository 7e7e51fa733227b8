package dev.igate.benchmark;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.SessionSettings;
import dev.igate.protocol.Tensor;
import dev.igate.transformer.TextEncoder;
import dev.igate.transformer.TokenBatch;

/**
 * The raw in-process ONNX Runtime session on the seed sentence, tokenized once: the reference
 * the serving benchmark compares the whole server against. Prints the batch-1 run time and the
 * throughput at each batch size and the run time of the protocol comparison's tensor request,
 * then a machine-readable line with these figures.
 */
public final class RawOnnxBenchmark {

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args.length > 0 ? args[0] : "models/BERTSeqClassification/1");
        double seconds = args.length > 1 ? Double.parseDouble(args[1]) : 3;
        SessionSettings settings = new SessionSettings("auto", 0, 1, "all");
        try (TextEncoder encoder = TextEncoder.load(dir.resolve("tokenizer.json"), 128);
             OnnxModel model = OnnxModel.load(dir.resolve("model.onnx"), settings)) {
            TokenBatch one = encoder.encode(List.of(ExplainBenchmark.SEED));
            System.out.printf(Locale.ROOT, "Raw ONNX Runtime (%s), seed sentence, %d tokens%n", model.provider().ortName(),
                    one.length());
            System.out.printf(Locale.ROOT, "%8s %14s %14s%n", "batch", "run (ms)", "rows/s");
            double batch1Ms = 0;
            double batch1Rate = 0;
            double best = 0;
            int bestBatch = 1;
            for (int b : new int[] {1, 2, 4, 8, 16, 32, 64}) {
                List<Tensor> feeds = ExplainBenchmark.repeat(one.ids(0), one.mask(0), one.types(0), b);
                for (int i = 0; i < 20; i++) {
                    model.run(feeds, List.of("logits"));
                }
                long runs = 0;
                long start = System.nanoTime();
                long end = start + (long) (seconds * 1e9);
                while (System.nanoTime() < end) {
                    model.run(feeds, List.of("logits"));
                    runs++;
                }
                double elapsed = (System.nanoTime() - start) / 1e9;
                double ms = elapsed * 1000 / runs;
                double rate = runs * b / elapsed;
                System.out.printf(Locale.ROOT, "%8d %14.3f %14.1f%n", b, ms, rate);
                if (b == 1) {
                    batch1Ms = ms;
                    batch1Rate = rate;
                }
                if (rate > best) {
                    best = rate;
                    bestBatch = b;
                }
            }
            // the protocol comparison's tensor request, run alone (no batching) as the server runs it at concurrency 1
            List<Tensor> tensors = TensorRequests.inputs();
            for (int i = 0; i < 10; i++) {
                model.run(tensors, List.of("logits"));
            }
            long runs = 0;
            long start = System.nanoTime();
            while (System.nanoTime() - start < (long) (seconds * 1e9)) {
                model.run(tensors, List.of("logits"));
                runs++;
            }
            double tensorMs = (System.nanoTime() - start) / 1e6 / runs;
            System.out.printf(Locale.ROOT, "%d x %d token tensors: %.3f ms per run, %.1f requests/s%n", TensorRequests.ROWS,
                    TensorRequests.TOKENS, tensorMs, 1000 / tensorMs);
            System.out.printf(Locale.ROOT, "RAW batch1_ms=%.3f batch1_rps=%.1f best_rps=%.1f best_batch=%d tensors_ms=%.3f%n",
                    batch1Ms, batch1Rate, best, bestBatch, tensorMs);
        }
    }
}
