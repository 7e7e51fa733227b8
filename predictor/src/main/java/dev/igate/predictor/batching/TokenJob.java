package dev.igate.predictor.batching;

import dev.igate.protocol.Tensor;

/**
 * Tokenized texts, padded to the job's longest row, whose model output the caller wants. Jobs
 * share a run when their longest rows fall in the same length bucket (≤ 16, ≤ 32, ≤ 64, …
 * tokens), so one long text does not make a batch of short ones pay for its padding.
 *
 * <p>The answer is the output tensor of the job's rows, shaped as the model shapes it with the
 * batch dimension cut to {@code rows}: {@code [rows, labels]} for a sequence classifier; a
 * per-token output ({@code [rows, tokens, labels]}) is cut to this job's own length, so that its
 * token positions are those of the rows the caller sent.
 */
public final class TokenJob extends BatchJob<Tensor> {

    /** Jobs of one length bucket batch together. */
    public record Bucket(int maxTokens) {
    }

    private final int length;
    private final long[] ids;
    private final long[] mask;
    private final long[] types;

    /**
     * @param rows   texts
     * @param length tokens per row, padding included (the longest row's)
     * @param ids    token ids, {@code rows * length}, row-major
     * @param mask   attention mask, 0 on padding
     * @param types  token type ids
     */
    public TokenJob(int rows, int length, long[] ids, long[] mask, long[] types) {
        super(rows, new Bucket(bucket(length)));
        if (ids.length != (long) rows * length || mask.length != ids.length || types.length != ids.length) {
            throw new IllegalArgumentException("token arrays must hold " + rows + " x " + length + " values");
        }
        this.length = length;
        this.ids = ids;
        this.mask = mask;
        this.types = types;
    }

    @Override
    public int rowLength() {
        return length;
    }

    /** The smallest power of two from 16 up that holds {@code tokens}. */
    static int bucket(int tokens) {
        int b = 16;
        while (b < tokens) {
            b <<= 1;
        }
        return b;
    }

    /** Tokens per row, padding included. */
    public int length() {
        return length;
    }

    public long[] ids() {
        return ids;
    }

    public long[] mask() {
        return mask;
    }

    public long[] types() {
        return types;
    }
}
