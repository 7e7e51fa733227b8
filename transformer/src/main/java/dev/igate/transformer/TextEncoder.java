package dev.igate.transformer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.CharSpan;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Turns texts into token ids with a HuggingFace {@code tokenizer.json}, through DJL's binding of
 * the Rust tokenizers library.
 *
 * <p>Truncation and padding are set explicitly, whatever the file says: texts are cut at
 * {@code maxLength} tokens and a batch is padded to its longest text, never to the maximum.
 * Thread-safe; the native tokenizer is freed by {@link #close()}.
 */
public final class TextEncoder implements AutoCloseable {

    private final HuggingFaceTokenizer tokenizer;
    private final int maxLength;
    private final long padId;
    private final Path path;
    /** Tokenizers that cut pairs otherwise than longest-first, made on first use. */
    private final java.util.Map<Truncation, HuggingFaceTokenizer> others = new java.util.EnumMap<>(Truncation.class);
    /** A tokenizer that cuts nothing, for cuts from the left, made on first use. */
    private HuggingFaceTokenizer whole;

    private TextEncoder(HuggingFaceTokenizer tokenizer, int maxLength, long padId, Path path) {
        this.tokenizer = tokenizer;
        this.maxLength = maxLength;
        this.padId = padId;
        this.path = path;
    }

    /**
     * Loads a tokenizer. Blocking: reads the file and the native library.
     *
     * @throws IOException when the file cannot be read or parsed
     */
    public static TextEncoder load(Path tokenizerJson, int maxLength) throws IOException {
        if (maxLength < 2) {
            throw new IllegalArgumentException("maxLength must be at least 2, was " + maxLength);
        }
        return new TextEncoder(builder(tokenizerJson, maxLength).optTruncation(true).build(), maxLength, padId(tokenizerJson), tokenizerJson);
    }

    private static HuggingFaceTokenizer.Builder builder(Path tokenizerJson, int maxLength) {
        return HuggingFaceTokenizer.builder()
                .optTokenizerPath(tokenizerJson)
                .optAddSpecialTokens(true)
                .optMaxLength(maxLength)
                .optPadding(true);
    }

    /** The padding token's id: tokenizer.json's padding.pad_id, else the vocabulary's [PAD] or &lt;pad&gt;, else 0. */
    static long padId(Path tokenizerJson) throws IOException {
        JsonNode root;
        try {
            root = JsonMapper.builder().build().readTree(tokenizerJson.toFile());
        } catch (RuntimeException e) {
            throw new IOException(tokenizerJson.getFileName() + " is not valid JSON", e);
        }
        JsonNode padding = root.path("padding").path("pad_id");
        if (padding.canConvertToLong()) {
            return padding.longValue();
        }
        JsonNode vocab = root.path("model").path("vocab");
        for (String token : new String[] {"[PAD]", "<pad>"}) {
            if (vocab.path(token).canConvertToLong()) {
                return vocab.path(token).longValue();
            }
        }
        return 0;
    }

    /**
     * The id of a token of the vocabulary ({@code [MASK]}, {@code <unk>}, ...), or -1 when it has
     * none: what a mask or unknown-token baseline puts in place of each word. Reads tokenizer.json.
     */
    public long tokenId(String... candidates) {
        JsonNode vocab;
        try {
            vocab = JsonMapper.builder().build().readTree(path.toFile()).path("model").path("vocab");
        } catch (RuntimeException e) {
            return -1;
        }
        for (String token : candidates) {
            if (vocab.path(token).canConvertToLong()) {
                return vocab.path(token).longValue();
            }
        }
        // a vocabulary written as a list of [token, score] pairs (Unigram): the index of the pair
        if (vocab.isArray()) {
            for (int i = 0; i < vocab.size(); i++) {
                for (String token : candidates) {
                    if (token.equals(vocab.get(i).path(0).asString(null))) {
                        return i;
                    }
                }
            }
        }
        return -1;
    }

    /** Id of the padding token, which integrated gradients uses for its baseline. */
    public long padId() {
        return padId;
    }

    public int maxLength() {
        return maxLength;
    }

    /** Tokenizes a batch of texts, padding each row to the longest one. */
    public TokenBatch encode(List<String> texts) {
        if (texts.isEmpty()) {
            throw new IllegalArgumentException("no texts to encode");
        }
        // one text skips batchEncode's rayon pool: handing a sentence to a Rust worker thread costs more than encoding it
        Encoding[] encodings = texts.size() == 1 ? new Encoding[] {tokenizer.encode(texts.get(0))} : tokenizer.batchEncode(texts);
        return batch(rows(encodings), texts, null);
    }

    /**
     * Tokenizes texts (or pairs, {@code pairs} not null) cutting what is too long from the left, as
     * text-embeddings-inference's {@code truncation_direction: Left} does: the end of a text is
     * kept, special tokens stay; a pair loses tokens from the start of the longer text first
     * ({@code longest_first}), or of the one {@code truncation} names.
     *
     * @throws IllegalArgumentException when a pair cannot be cut to the maximum length the way asked
     */
    public TokenBatch encodeFromLeft(List<String> texts, List<String> pairs, Truncation truncation) {
        if (texts.isEmpty() || (pairs != null && pairs.size() != texts.size())) {
            throw new IllegalArgumentException("no texts to encode, or not one second text per text");
        }
        HuggingFaceTokenizer uncut = uncut();
        Row[] rows = new Row[texts.size()];
        for (int i = 0; i < rows.length; i++) {
            Row row = Row.of(pairs == null ? uncut.encode(texts.get(i)) : uncut.encode(texts.get(i), pairs.get(i)));
            rows[i] = row.ids().length <= maxLength ? row : row.cutFromLeft(maxLength, pairs == null ? Truncation.ONLY_FIRST : truncation, i);
        }
        return batch(rows, texts, pairs);
    }

    private HuggingFaceTokenizer uncut() {
        synchronized (others) {
            if (whole == null) {
                try {
                    // tokenizer.json may fix truncation and padding (MiniLM's at 128): neither here
                    whole = HuggingFaceTokenizer.builder().optTokenizerPath(path).optAddSpecialTokens(true).optTruncation(false)
                            .optPadding(false).build();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
            return whole;
        }
    }

    /** One encoded row as a batch reads it: DJL's encoding, or the part of one a cut from the left keeps. */
    private record Row(long[] ids, long[] mask, long[] types, long[] words, String[] tokens, boolean truncated, long[] sequences,
                       long[] special, CharSpan[] spans) {

        static Row of(Encoding e) {
            int n = e.getIds().length;
            return new Row(e.getIds(), e.getAttentionMask(), e.getTypeIds(), e.getWordIds(), e.getTokens(), e.exceedMaxLength(),
                    fit(e.getSequenceIds(), n), fit(e.getSpecialTokenMask(), n), e.getCharTokenSpans());
        }

        private static long[] fit(long[] values, int n) {
            return values == null ? new long[n] : values;
        }

        /** This row cut to {@code max} tokens from the start of its text(s), special tokens kept. */
        Row cutFromLeft(int max, Truncation truncation, int index) {
            int n = ids.length;
            int specials = 0;
            int[] lengths = new int[2];
            for (int j = 0; j < n; j++) {
                if (special[j] == 1) {
                    specials++;
                } else {
                    lengths[sequences[j] == 1 ? 1 : 0]++;
                }
            }
            int[] drop = new int[2];
            int excess = n - max;
            if (specials + 1 > max) {
                throw new IllegalArgumentException("row " + index + " cannot be cut to " + max + " tokens: it has " + specials
                        + " special tokens");
            }
            switch (truncation) {
                case ONLY_FIRST, ONLY_SECOND -> {
                    int s = truncation == Truncation.ONLY_FIRST ? 0 : 1;
                    if (lengths[s] <= excess) {
                        throw new IllegalArgumentException("pair " + index + " cannot be cut to " + max + " tokens with truncation "
                                + truncation.name().toLowerCase(java.util.Locale.ROOT) + " from the left");
                    }
                    drop[s] = excess;
                }
                default -> {
                    // a token at a time from the longer text
                    int[] left = lengths.clone();
                    for (int k = 0; k < excess; k++) {
                        int s = left[0] > left[1] ? 0 : 1;
                        left[s]--;
                        drop[s]++;
                    }
                }
            }
            boolean[] keep = new boolean[n];
            int kept = 0;
            int[] seen = new int[2];
            for (int j = 0; j < n; j++) {
                int s = sequences[j] == 1 ? 1 : 0;
                keep[j] = special[j] == 1 || seen[s]++ >= drop[s];
                kept += keep[j] ? 1 : 0;
            }
            long[][] longs = {ids, mask, types, words, sequences, special};
            long[][] cut = new long[longs.length][kept];
            String[] keptTokens = new String[kept];
            CharSpan[] keptSpans = spans == null ? null : new CharSpan[kept];
            for (int j = 0, k = 0; j < n; j++) {
                if (keep[j]) {
                    for (int a = 0; a < longs.length; a++) {
                        cut[a][k] = longs[a][j];
                    }
                    keptTokens[k] = tokens[j];
                    if (keptSpans != null) {
                        keptSpans[k] = j < spans.length ? spans[j] : null;
                    }
                    k++;
                }
            }
            return new Row(cut[0], cut[1], cut[2], cut[3], keptTokens, true, cut[4], cut[5], keptSpans);
        }
    }

    private static Row[] rows(Encoding[] encodings) {
        Row[] rows = new Row[encodings.length];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = Row.of(encodings[i]);
        }
        return rows;
    }

    /** How a pair longer than the maximum length is cut, as HuggingFace's tokenizers name it. */
    public enum Truncation {
        /** A token at a time from the longer of the two (the default). */
        LONGEST_FIRST,
        /** From the first text only. */
        ONLY_FIRST,
        /** From the second text only. */
        ONLY_SECOND;

        /** By HuggingFace's name ({@code longest_first}, {@code only_first}, {@code only_second}). */
        public static Truncation of(String name) {
            try {
                return valueOf(name.trim().toUpperCase(java.util.Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("truncation must be longest_first, only_first or only_second, was " + name);
            }
        }
    }

    /**
     * Tokenizes pairs of texts as the tokenizer encodes a pair ({@code [CLS] text [SEP] pair [SEP]}
     * for BERT, token type ids 0 then 1), padding each row to the longest one.
     *
     * @throws IllegalArgumentException when the lists differ in length, or are empty, or a pair cannot be
     *                                  cut to the maximum length the way asked
     */
    public TokenBatch encodePairs(List<String> texts, List<String> pairs, Truncation truncation) {
        if (texts.isEmpty() || texts.size() != pairs.size()) {
            throw new IllegalArgumentException("pairs need as many second texts as texts, got " + texts.size() + " and " + pairs.size());
        }
        HuggingFaceTokenizer cutting = truncating(truncation);
        Encoding[] encodings = new Encoding[texts.size()];
        for (int i = 0; i < encodings.length; i++) {
            try {
                encodings[i] = cutting.encode(texts.get(i), pairs.get(i));
            } catch (RuntimeException e) {
                // only_second with a second text too short to make room, say: the tokenizer refuses the pair
                throw new IllegalArgumentException("pair " + i + " cannot be cut to " + maxLength + " tokens with truncation "
                        + truncation.name().toLowerCase(java.util.Locale.ROOT) + " (" + e.getMessage() + ")", e);
            }
        }
        return batch(rows(encodings), texts, pairs);
    }

    /** The tokenizer that cuts pairs this way: the loaded one for longest_first, others made on first use. */
    private HuggingFaceTokenizer truncating(Truncation truncation) {
        if (truncation == Truncation.LONGEST_FIRST) {
            return tokenizer;
        }
        synchronized (others) {
            return others.computeIfAbsent(truncation, t -> {
                try {
                    HuggingFaceTokenizer.Builder b = builder(path, maxLength);
                    return (t == Truncation.ONLY_FIRST ? b.optTruncateFirstOnly() : b.optTruncateSecondOnly()).build();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
        }
    }

    private TokenBatch batch(Row[] encodings, List<String> texts, List<String> pairs) {
        int rows = encodings.length;
        int length = 0;
        for (Row e : encodings) {
            length = Math.max(length, e.ids().length);
        }
        long[] ids = new long[rows * length];
        long[] mask = new long[rows * length];
        long[] types = new long[rows * length];
        long[][] wordIds = new long[rows][];
        long[][] sequences = new long[rows][];
        String[][] tokens = new String[rows][];
        boolean[] truncated = new boolean[rows];
        int[][] starts = new int[rows][];
        int[][] ends = new int[rows][];
        for (int i = 0; i < rows; i++) {
            Row e = encodings[i];
            int n = e.ids().length;
            System.arraycopy(e.ids(), 0, ids, i * length, n);
            System.arraycopy(e.mask(), 0, mask, i * length, n);
            System.arraycopy(e.types(), 0, types, i * length, n);
            wordIds[i] = e.words();
            tokens[i] = e.tokens();
            truncated[i] = e.truncated();
            sequences[i] = sequenceIds(e, n, pairs != null);
            CharSpan[] spans = e.spans();
            // a span indexes into the text its token came from
            int[] first = utf16Indices(texts.get(i));
            int[] second = pairs == null ? first : utf16Indices(pairs.get(i));
            starts[i] = new int[n];
            ends[i] = new int[n];
            for (int j = 0; j < n; j++) {
                CharSpan span = spans != null && j < spans.length ? spans[j] : null;
                int[] utf16 = sequences[i][j] == 1 ? second : first;
                starts[i][j] = span == null ? -1 : utf16[span.getStart()];
                ends[i][j] = span == null ? -1 : utf16[span.getEnd()];
            }
        }
        return new TokenBatch(rows, length, ids, mask, types, wordIds, tokens, truncated, starts, ends, List.copyOf(texts),
                pairs == null ? null : List.copyOf(pairs), sequences);
    }

    /** Which text each token came from: the tokenizer's sequence ids (-1 for special tokens), all 0 for a single text's. */
    private static long[] sequenceIds(Row e, int n, boolean paired) {
        long[] out = new long[n];
        long[] given = e.sequences();
        long[] special = e.special();
        for (int j = 0; j < n; j++) {
            boolean isSpecial = special != null && j < special.length && special[j] == 1;
            out[j] = isSpecial ? -1 : paired && given != null && j < given.length ? given[j] : 0;
        }
        return out;
    }

    /**
     * The String index of each code point of {@code text}, and of its end: DJL's character spans
     * count code points (Rust chars), so an emoji or other character outside the Basic
     * Multilingual Plane, two Java chars, would shift every later span by one.
     */
    private static int[] utf16Indices(String text) {
        int[] indices = new int[text.codePointCount(0, text.length()) + 1];
        int index = 0;
        for (int c = 0; c < indices.length - 1; c++) {
            indices[c] = index;
            index = text.offsetByCodePoints(index, 1);
        }
        indices[indices.length - 1] = text.length();
        return indices;
    }

    @Override
    public void close() {
        tokenizer.close();
        synchronized (others) {
            if (whole != null) {
                whole.close();
            }
            others.values().forEach(HuggingFaceTokenizer::close);
            others.clear();
        }
    }
}
