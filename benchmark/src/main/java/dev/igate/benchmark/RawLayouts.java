package dev.igate.benchmark;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicLong;

import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.SessionSettings;
import dev.igate.protocol.Tensor;
import dev.igate.transformer.TextEncoder;

/**
 * The best the hardware does with the demo model, whatever the server's settings: every raw
 * in-process ONNX Runtime layout that uses all cores — one session with all cores as intra-op
 * threads, spinning off and on; k sessions of t threads running at once for every k × t = cores;
 * one session run by k callers at once — at each batch size, for each workload (the seed
 * sentence, a ~128-token text, a mix of 8-128 tokens batched by the server's length buckets).
 * Prints a table per workload and machine-readable {@code RAW} lines with the best layout's
 * rows/s and the fastest batch-1 run, the references {@code ./benchmark.sh serving} holds the
 * server against.
 *
 * <p>Usage: {@code RawLayouts <version dir> [seconds per point] [workloads, comma-separated] [probe]}.
 * With {@code probe} it measures only what the serving benchmark pairs with a load run a moment
 * later (the VM's speed drifts by tens of percent within minutes): the lone batch-1 run on one
 * session spanning every core with spinning, and the best of batch 16 and 32 on one session run by
 * one caller per core, and prints a {@code PAIRED} line.
 */
public final class RawLayouts {

    /**
     * @param instances concurrent runs
     * @param threads   intra-op threads per session
     * @param spinning  whether idle intra-op threads spin
     * @param shared    all runs on one session (weights held once) instead of one session each
     */
    record Layout(int instances, int threads, boolean spinning, boolean shared) {
        String label() {
            String base = shared ? "1 session, " + instances + " callers x " + threads + "t"
                    : instances + " x " + threads + "t";
            return threads > 1 ? base + (spinning ? " spin" : " nospin") : base;
        }

        String key() {
            return (shared ? "shared" : "") + instances + "x" + threads + (threads > 1 ? (spinning ? "spin" : "nospin") : "");
        }
    }

    /** Layouts that use exactly {@code cores} threads, or those named by {@code -Dlayouts=2x1,shared2x2spin,...}. */
    static List<Layout> layouts(int cores) {
        List<Layout> out = new ArrayList<>();
        String named = System.getProperty("layouts");
        if (named != null) {
            for (String key : named.split(",")) {
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("(shared)?(\\d+)x(\\d+)(spin|nospin)?").matcher(key);
                if (!m.matches()) {
                    throw new IllegalArgumentException("layout " + key + ": expected e.g. 2x1, 1x2spin, shared2x1");
                }
                out.add(new Layout(Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)), "spin".equals(m.group(4)),
                        m.group(1) != null));
            }
            return out;
        }
        out.add(new Layout(1, cores, false, false));
        out.add(new Layout(1, cores, true, false));
        for (int k = 2; k <= cores; k++) {
            if (cores % k == 0) {
                out.add(new Layout(k, cores / k, true, false));
            }
        }
        if (cores > 1) {
            out.add(new Layout(cores, 1, false, true));
        }
        return out;
    }

    /** A layout's figures on one workload. */
    record Result(Layout layout, int[] batches, double[] rowsPerSecond, double batch1Millis) {
        double best() {
            return Arrays.stream(rowsPerSecond).max().orElse(0);
        }

        int bestBatch() {
            double best = best();
            for (int i = 0; i < batches.length; i++) {
                if (rowsPerSecond[i] == best) {
                    return batches[i];
                }
            }
            return 0;
        }
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args.length > 0 ? args[0] : "models/BERTSeqClassification/1");
        double seconds = args.length > 1 ? Double.parseDouble(args[1]) : 2;
        List<String> wanted = List.of((args.length > 2 ? args[2] : "seed,long,mix").split(","));
        int cores = Integer.getInteger("cores", Runtime.getRuntime().availableProcessors());
        if (args.length > 3 && args[3].equals("probe")) {
            try (TextEncoder encoder = TextEncoder.load(dir.resolve("tokenizer.json"), 128)) {
                for (Workload w : Workload.all(encoder)) {
                    if (wanted.contains(w.name())) {
                        probe(dir, w, cores, seconds);
                    }
                }
            }
            return;
        }
        try (TextEncoder encoder = TextEncoder.load(dir.resolve("tokenizer.json"), 128)) {
            for (Workload w : Workload.all(encoder)) {
                if (wanted.contains(w.name())) {
                    report(w, measure(dir, w, cores, seconds));
                }
            }
        }
        tensorRequest(dir, cores, seconds);
    }

    /** The paired reference of one workload: the fastest lone run and the best-throughput layout's best batch. */
    static void probe(Path dir, Workload w, int cores, double seconds) throws Exception {
        List<OnnxModel> solo = open(dir, new Layout(1, cores, true, false));
        double batch1;
        try {
            batch1 = batch1Millis(solo.get(0), w.batches(1), seconds);
        } finally {
            solo.forEach(OnnxModel::close);
        }
        Layout shared = new Layout(cores, 1, false, true);
        List<OnnxModel> sessions = open(dir, shared);
        double best = 0;
        try {
            for (int b : new int[] {16, 32}) {
                best = Math.max(best, throughput(sessions, cores, w.batches(b), seconds));
            }
        } finally {
            sessions.forEach(OnnxModel::close);
        }
        System.out.printf(Locale.ROOT, "PAIRED workload=%s batch1_ms=%.3f best_rps=%.1f%n", w.name(), batch1, best);
    }

    /**
     * The protocol comparison's tensor request (8 x 64 token ids), run alone as the server runs a
     * lone request: on one session with every core, spinning within the run.
     */
    static void tensorRequest(Path dir, int cores, double seconds) throws Exception {
        try (OnnxModel model = OnnxModel.load(dir.resolve("model.onnx"), new SessionSettings("cpu", cores, 1, "all", true))) {
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
            double ms = (System.nanoTime() - start) / 1e6 / runs;
            System.out.printf(Locale.ROOT, "%n%d x %d token tensors, one session with %d spinning threads: %.3f ms per run%n",
                    TensorRequests.ROWS, TensorRequests.TOKENS, cores, ms);
            System.out.printf(Locale.ROOT, "RAW tensors tensors_ms=%.3f%n", ms);
        }
    }

    static int[] batchSizes(Workload w) {
        return switch (w.name()) {
            case "long" -> new int[] {1, 2, 4, 8, 16, 32};
            case "mix" -> new int[] {1, 4, 8, 16, 32};
            default -> new int[] {1, 4, 8, 16, 32, 64};
        };
    }

    static List<Result> measure(Path dir, Workload w, int cores, double seconds) throws Exception {
        List<Result> results = new ArrayList<>();
        int[] batches = batchSizes(w);
        for (Layout layout : layouts(cores)) {
            List<OnnxModel> sessions = open(dir, layout);
            try {
                double[] rates = new double[batches.length];
                for (int i = 0; i < batches.length; i++) {
                    rates[i] = throughput(sessions, layout.instances(), w.batches(batches[i]), seconds);
                }
                double batch1 = batch1Millis(sessions.get(0), w.batches(1), seconds);
                results.add(new Result(layout, batches, rates, batch1));
            } finally {
                sessions.forEach(OnnxModel::close);
            }
        }
        return results;
    }

    private static List<OnnxModel> open(Path dir, Layout layout) throws Exception {
        SessionSettings settings = new SessionSettings("cpu", layout.threads(), 1, "all", layout.spinning());
        List<OnnxModel> sessions = new ArrayList<>();
        int count = layout.shared() ? 1 : layout.instances();
        for (int i = 0; i < count; i++) {
            sessions.add(OnnxModel.load(dir.resolve("model.onnx"), settings));
        }
        return sessions;
    }

    /** Rows per second with {@code callers} threads running batches at once, each on its session (or the shared one). */
    static double throughput(List<OnnxModel> sessions, int callers, List<List<Tensor>> batches, double seconds)
            throws Exception {
        CyclicBarrier start = new CyclicBarrier(callers + 1);
        AtomicLong rows = new AtomicLong();
        long[] window = new long[2];
        List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < callers; c++) {
            OnnxModel session = sessions.get(Math.min(c, sessions.size() - 1));
            int offset = c * batches.size() / callers;
            Thread t = new Thread(() -> {
                try {
                    for (int i = 0; i < 3; i++) {
                        session.run(batches.get((offset + i) % batches.size()), List.of("logits"));
                    }
                    start.await();
                    long end = System.nanoTime() + (long) (seconds * 1e9);
                    long n = 0;
                    for (int i = offset; System.nanoTime() < end; i++) {
                        List<Tensor> feeds = batches.get(i % batches.size());
                        session.run(feeds, List.of("logits"));
                        n += feeds.get(0).shape()[0];
                    }
                    rows.addAndGet(n);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }, "raw-" + c);
            threads.add(t);
            t.start();
        }
        start.await();
        window[0] = System.nanoTime();
        for (Thread t : threads) {
            t.join();
        }
        window[1] = System.nanoTime();
        return rows.get() / ((window[1] - window[0]) / 1e9);
    }

    /** Median run time of a lone batch-1 run (one caller), across the workload's texts. */
    static double batch1Millis(OnnxModel session, List<List<Tensor>> singles, double seconds) {
        for (int i = 0; i < 10; i++) {
            session.run(singles.get(i % singles.size()), List.of("logits"));
        }
        List<Double> ms = new ArrayList<>();
        long end = System.nanoTime() + (long) (seconds * 1e9);
        for (int i = 0; System.nanoTime() < end || ms.size() < 5; i++) {
            long t0 = System.nanoTime();
            session.run(singles.get(i % singles.size()), List.of("logits"));
            ms.add((System.nanoTime() - t0) / 1e6);
        }
        ms.sort(Double::compare);
        return ms.get(ms.size() / 2);
    }

    static void report(Workload w, List<Result> results) {
        int[] batches = results.get(0).batches();
        System.out.printf(Locale.ROOT, "%nRaw ONNX Runtime layouts, workload %s (%s), rows/s by batch size per instance%n",
                w.name(), w.lengths());
        StringBuilder header = new StringBuilder(String.format(Locale.ROOT, "%-34s", "layout"));
        for (int b : batches) {
            header.append(String.format(Locale.ROOT, "%9s", "b" + b));
        }
        header.append(String.format(Locale.ROOT, "%10s %12s", "best", "batch-1 ms"));
        System.out.println(header);
        Result best = results.get(0);
        Result fastest = results.get(0);
        for (Result r : results) {
            StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "%-34s", r.layout().label()));
            for (double rate : r.rowsPerSecond()) {
                line.append(String.format(Locale.ROOT, "%9.1f", rate));
            }
            line.append(String.format(Locale.ROOT, "%10.1f %12.2f", r.best(), r.batch1Millis()));
            System.out.println(line);
            if (r.best() > best.best()) {
                best = r;
            }
            if (r.batch1Millis() < fastest.batch1Millis()) {
                fastest = r;
            }
        }
        System.out.printf(Locale.ROOT, "RAW workload=%s best_rps=%.1f best_layout=%s best_batch=%d batch1_ms=%.3f batch1_layout=%s%n",
                w.name(), best.best(), best.layout().key(), best.bestBatch(), fastest.batch1Millis(), fastest.layout().key());
    }
}
