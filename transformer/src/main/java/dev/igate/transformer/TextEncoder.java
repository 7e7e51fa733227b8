package dev.igate.transformer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;

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

    private TextEncoder(HuggingFaceTokenizer tokenizer, int maxLength) {
        this.tokenizer = tokenizer;
        this.maxLength = maxLength;
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
        return new TextEncoder(tokenizer, maxLength);
    }

    public int maxLength() {
        return maxLength;
    }

    /** Tokenizes a batch of texts, padding each row to the longest one. */
    public TokenBatch encode(List<String> texts) {
        if (texts.isEmpty()) {
            throw new IllegalArgumentException("no texts to encode");
        }
        Encoding[] encodings = tokenizer.batchEncode(texts);
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
        for (int i = 0; i < rows; i++) {
            Encoding e = encodings[i];
            int n = e.getIds().length;
            System.arraycopy(e.getIds(), 0, ids, i * length, n);
            System.arraycopy(e.getAttentionMask(), 0, mask, i * length, n);
            System.arraycopy(e.getTypeIds(), 0, types, i * length, n);
            wordIds[i] = e.getWordIds();
            tokens[i] = e.getTokens();
            truncated[i] = e.exceedMaxLength();
        }
        return new TokenBatch(rows, length, ids, mask, types, wordIds, tokens, truncated);
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
