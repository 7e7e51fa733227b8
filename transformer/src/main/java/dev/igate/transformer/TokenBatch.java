package dev.igate.transformer;

import java.util.List;

/**
 * Tokenized texts, padded to the longest text of the batch, as flat row-major arrays ready to
 * become {@code [rows, length]} INT64 tensors.
 *
 * @param rows          number of texts
 * @param length        padded sequence length
 * @param inputIds      token ids, {@code rows * length}
 * @param attentionMask 1 for real tokens, 0 for padding
 * @param typeIds       segment ids
 * @param wordIds       per row, the word index of each token, -1 for special and padding tokens
 * @param tokens        per row, the token strings
 * @param truncated     per row, whether the text was cut at the maximum length
 * @param charStarts    per row, each token's start in the text as a String (UTF-16) index, -1 for special tokens
 * @param charEnds      per row, each token's end (exclusive) as a String (UTF-16) index, -1 for special tokens
 * @param texts         the texts, as they were given
 * @param pairs         each text's second text ({@code text_pair}), or null when the rows are single texts
 * @param sequenceIds   per row, which text each token belongs to: 0 the text, 1 its pair, -1 a special token;
 *                      a token's {@code charStarts}/{@code charEnds} index into that text
 */
public record TokenBatch(int rows, int length, long[] inputIds, long[] attentionMask, long[] typeIds,
                         long[][] wordIds, String[][] tokens, boolean[] truncated, int[][] charStarts, int[][] charEnds,
                         List<String> texts, List<String> pairs, long[][] sequenceIds) {

    /** Whether each row is a pair of texts. */
    public boolean paired() {
        return pairs != null;
    }

    /** The real (non-padding) token count of a row. */
    public int tokenCount(int row) {
        int n = 0;
        for (int j = 0; j < length; j++) {
            n += (int) attentionMask[row * length + j];
        }
        return n;
    }

    /** The token ids of one row, padding excluded. */
    public long[] ids(int row) {
        return slice(inputIds, row);
    }

    /** The attention mask of one row, padding excluded. */
    public long[] mask(int row) {
        return slice(attentionMask, row);
    }

    /** The token type ids of one row, padding excluded. */
    public long[] types(int row) {
        return slice(typeIds, row);
    }

    private long[] slice(long[] values, int row) {
        long[] out = new long[tokenCount(row)];
        System.arraycopy(values, row * length, out, 0, out.length);
        return out;
    }
}
