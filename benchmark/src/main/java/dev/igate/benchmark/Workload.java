package dev.igate.benchmark;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import dev.igate.protocol.Tensor;
import dev.igate.transformer.TextEncoder;
import dev.igate.transformer.TokenBatch;

/**
 * The texts a serving benchmark sends, tokenized, and the batches the raw reference runs for
 * them. Batches are formed as the server forms them: only texts of one length bucket (≤ 16, ≤ 32,
 * ≤ 64, ≤ 128 tokens) share a batch, padded to the longest text of the batch.
 *
 * @param name  seed, long or mix
 * @param texts the texts, in the order a client sends them
 * @param rows  their token ids, masks and types, unpadded
 */
record Workload(String name, List<String> texts, List<long[][]> rows) {

    /** The seed sentence of the issue and DESIGN.md: 16 tokens. */
    static final String SEED = ExplainBenchmark.SEED;
    /** A text of about 128 tokens (the demo model's max-length): the first line of long-text.txt. */
    static final String LONG_RESOURCE = "long-text.txt";
    /** 64 texts of about 8 to 128 tokens, in a fixed order. */
    static final String MIX_RESOURCE = "mixed-texts.txt";

    /** The token classifier's text: a toxicology sentence with four entities, 23 tokens. */
    static final String NER = "Sprague-Dawley rats given 50 mg/kg of cadmium chloride developed kidney lesions.";

    static List<Workload> all(TextEncoder encoder) throws IOException {
        return List.of(of("seed", List.of(SEED), encoder), of("long", lines(LONG_RESOURCE), encoder),
                of("mix", lines(MIX_RESOURCE), encoder), of("ner", List.of(NER), encoder));
    }

    /** Prints a one-text workload's text (for benchmark.sh): {@code Workload ner}. */
    public static void main(String[] args) {
        System.out.println(switch (args.length > 0 ? args[0] : "seed") {
            case "ner" -> NER;
            default -> SEED;
        });
    }

    static Workload of(String name, List<String> texts, TextEncoder encoder) {
        List<long[][]> rows = new ArrayList<>();
        for (String text : texts) {
            TokenBatch one = encoder.encode(List.of(text));
            rows.add(new long[][] {one.ids(0), one.mask(0), one.types(0)});
        }
        return new Workload(name, texts, rows);
    }

    /** Non-empty lines of a resource next to this class that do not start with {@code #}. */
    static List<String> lines(String resource) throws IOException {
        List<String> out = new ArrayList<>();
        try (InputStream in = Workload.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IOException("resource " + resource + " is missing");
            }
            BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            for (String line; (line = reader.readLine()) != null; ) {
                if (!line.isBlank() && !line.startsWith("#")) {
                    out.add(line.strip());
                }
            }
        }
        return out;
    }

    /** Token counts of the texts, smallest and largest, for the report. */
    String lengths() {
        int min = Integer.MAX_VALUE;
        int max = 0;
        for (long[][] r : rows) {
            min = Math.min(min, r[0].length);
            max = Math.max(max, r[0].length);
        }
        return min == max ? min + " tokens" : texts.size() + " texts of " + min + "-" + max + " tokens";
    }

    /**
     * The batches of at most {@code batch} rows that the raw reference cycles through: with one
     * text, that text repeated; with several, each length bucket's texts cut into batches in list
     * order, every text appearing once per cycle.
     */
    List<List<Tensor>> batches(int batch) {
        List<long[][]> pool = rows;
        if (rows.size() == 1) {
            pool = Collections.nCopies(batch, rows.get(0));
        }
        Map<Integer, List<long[][]>> buckets = new TreeMap<>();
        for (long[][] r : pool) {
            buckets.computeIfAbsent(bucket(r[0].length), b -> new ArrayList<>()).add(r);
        }
        List<List<Tensor>> out = new ArrayList<>();
        for (List<long[][]> bucket : buckets.values()) {
            for (int from = 0; from < bucket.size(); from += batch) {
                out.add(pad(bucket.subList(from, Math.min(bucket.size(), from + batch))));
            }
        }
        return out;
    }

    /** The server's length buckets: the smallest power of two from 16 up that holds the tokens. */
    static int bucket(int tokens) {
        int b = 16;
        while (b < tokens) {
            b <<= 1;
        }
        return b;
    }

    private static List<Tensor> pad(List<long[][]> texts) {
        int length = 0;
        for (long[][] t : texts) {
            length = Math.max(length, t[0].length);
        }
        int n = texts.size();
        long[] ids = new long[n * length];
        long[] mask = new long[n * length];
        long[] types = new long[n * length];
        for (int r = 0; r < n; r++) {
            long[][] t = texts.get(r);
            System.arraycopy(t[0], 0, ids, r * length, t[0].length);
            System.arraycopy(t[1], 0, mask, r * length, t[1].length);
            System.arraycopy(t[2], 0, types, r * length, t[2].length);
        }
        long[] shape = {n, length};
        return List.of(Tensor.ofLongs("input_ids", shape, ids), Tensor.ofLongs("attention_mask", shape, mask),
                Tensor.ofLongs("token_type_ids", shape, types));
    }
}
