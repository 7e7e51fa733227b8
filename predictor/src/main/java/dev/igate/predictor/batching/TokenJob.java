package dev.igate.predictor.batching;

/**
 * Rows of token ids (one per text, each its own length) whose logits the caller wants. Jobs
 * share a run when their longest rows fall in the same length bucket (≤ 16, ≤ 32, ≤ 64, …
 * tokens), so one long text does not make a batch of short ones pay for its padding.
 */
public final class TokenJob extends BatchJob<float[][]> {

    /** Jobs of one length bucket batch together. */
    public record Bucket(int maxTokens) {
    }

    private final long[][] ids;
    private final long[][] mask;
    private final long[][] types;
    private final int longest;

    public TokenJob(long[][] ids, long[][] mask, long[][] types) {
        super(ids.length, new Bucket(bucket(longest(ids))));
        this.ids = ids;
        this.mask = mask;
        this.types = types;
        this.longest = longest(ids);
    }

    @Override
    public int rowLength() {
        return longest;
    }

    static int longest(long[][] rows) {
        int max = 0;
        for (long[] r : rows) {
            max = Math.max(max, r.length);
        }
        return max;
    }

    /** The smallest power of two from 16 up that holds {@code tokens}. */
    static int bucket(int tokens) {
        int b = 16;
        while (b < tokens) {
            b <<= 1;
        }
        return b;
    }

    public long[][] ids() {
        return ids;
    }

    public long[][] mask() {
        return mask;
    }

    public long[][] types() {
        return types;
    }
}
