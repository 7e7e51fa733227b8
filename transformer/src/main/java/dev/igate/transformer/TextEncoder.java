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

    private TextEncoder(HuggingFaceTokenizer tokenizer, int maxLength, long padId) {
        this.tokenizer = tokenizer;
        this.maxLength = maxLength;
        this.padId = padId;
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
        HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.builder()
                .optTokenizerPath(tokenizerJson)
                .optAddSpecialTokens(true)
                .optTruncation(true)
                .optMaxLength(maxLength)
                .optPadding(true)
                .build();
        return new TextEncoder(tokenizer, maxLength, padId(tokenizerJson));
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
        int rows = encodings.length;
        int length = 0;
        for (Encoding e : encodings) {
            length = Math.max(length, e.getIds().length);
        }
        long[] ids = new long[rows * length];
        long[] mask = new long[rows * length];
        long[] types = new long[rows * length];
        long[][] wordIds = new long[rows][];
        String[][] tokens = new String[rows][];
        boolean[] truncated = new boolean[rows];
        int[][] starts = new int[rows][];
        int[][] ends = new int[rows][];
        for (int i = 0; i < rows; i++) {
            Encoding e = encodings[i];
            int n = e.getIds().length;
            System.arraycopy(e.getIds(), 0, ids, i * length, n);
            System.arraycopy(e.getAttentionMask(), 0, mask, i * length, n);
            System.arraycopy(e.getTypeIds(), 0, types, i * length, n);
            wordIds[i] = e.getWordIds();
            tokens[i] = e.getTokens();
            truncated[i] = e.exceedMaxLength();
            CharSpan[] spans = e.getCharTokenSpans();
            int[] utf16 = utf16Indices(texts.get(i));
            starts[i] = new int[n];
            ends[i] = new int[n];
            for (int j = 0; j < n; j++) {
                CharSpan span = spans != null && j < spans.length ? spans[j] : null;
                starts[i][j] = span == null ? -1 : utf16[span.getStart()];
                ends[i][j] = span == null ? -1 : utf16[span.getEnd()];
            }
        }
        return new TokenBatch(rows, length, ids, mask, types, wordIds, tokens, truncated, starts, ends, List.copyOf(texts));
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
    }
}
