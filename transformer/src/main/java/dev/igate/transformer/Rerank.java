package dev.igate.transformer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Tensor;
import dev.igate.protocol.TextRows;

/**
 * Reranking with a cross-encoder, as text-embeddings-inference's {@code /rerank} answers: the
 * query paired with each text, one relevance score per text (the sigmoid of the model's logit, or
 * the logit itself with {@code raw_scores}), texts sorted by score, highest first, the best
 * {@code top_n} only when asked; each answer {@code {"index", "score"}} with {@code "text"} when
 * {@code return_text}.
 */
public final class Rerank implements Task {

    public static final String PROBLEM_TYPE = "rerank";
    public static final String QUERY = "query";
    public static final String TOP_N = "top_n";
    public static final String RETURN_TEXT = "return_text";
    public static final String RAW_SCORES = "raw_scores";

    private final String query;
    private final int topN;
    private final boolean returnText;
    private final boolean rawScores;

    Rerank(String query, int topN, boolean returnText, boolean rawScores) {
        this.query = query;
        this.topN = topN;
        this.returnText = returnText;
        this.rawScores = rawScores;
    }

    /**
     * The rerank a request's parameters ask for.
     *
     * @param width the model's number of outputs: a cross-encoder has one
     * @throws InvalidInputException for an empty query, a {@code top_n} below 1, flags that are not booleans, or a
     *                               model that is not a cross-encoder
     */
    static Rerank of(String model, Map<String, Object> parameters, boolean pairs, int width) {
        if (!pairs || width != 1) {
            throw new InvalidInputException("Model " + model + " cannot rerank: it is not a cross-encoder (one relevance score "
                    + "for a pair of texts); it " + (pairs ? "has " + width + " outputs" : "reads single texts"));
        }
        Object q = parameters.get(QUERY);
        if (!(q instanceof String query) || query.isBlank()) {
            throw new InvalidInputException("Parameter " + QUERY + " must be a non-empty string, was " + (q == null ? "missing" : q));
        }
        Object n = parameters.get(TOP_N);
        int topN = Integer.MAX_VALUE;
        if (n != null) {
            if (!(n instanceof Number number) || number.doubleValue() != Math.rint(number.doubleValue()) || number.doubleValue() < 1) {
                throw new InvalidInputException("Parameter " + TOP_N + " must be a positive integer, was " + n);
            }
            topN = (int) Math.min(Integer.MAX_VALUE, number.longValue());
        }
        return new Rerank(query, topN, Parameters.flag(parameters, RETURN_TEXT), Parameters.flag(parameters, RAW_SCORES));
    }

    /** The query every text is scored against. */
    public String query() {
        return query;
    }

    /** The query with each text: (query, text), as a cross-encoder was trained. */
    @Override
    public TextRows rows(TextRows request) {
        if (request.paired()) {
            throw new InvalidInputException("Rerank pairs the query with each text: send single texts, not text_pair");
        }
        return new TextRows(java.util.Collections.nCopies(request.size(), query), request.texts());
    }

    @Override
    public String problemType() {
        return PROBLEM_TYPE;
    }

    @Override
    public List<String> labels() {
        return List.of("score");
    }

    @Override
    public List<Prediction> decode(Tensor output, TokenBatch tokens) {
        float[] logits = Task.matrix(output, tokens.rows(), 1);
        float[] scores = new float[logits.length];
        for (int i = 0; i < logits.length; i++) {
            scores[i] = rawScores ? logits[i] : (float) (1 / (1 + Math.exp(-logits[i])));
        }
        Integer[] order = new Integer[scores.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Float.compare(scores[b], scores[a]));
        List<Prediction> out = new ArrayList<>();
        for (int k = 0; k < Math.min(topN, order.length); k++) {
            int i = order[k];
            out.add(new Prediction(i, null, new float[] {scores[i]}, List.of(), List.of(), tokens.pairs().get(i)));
        }
        return out;
    }

    /** {@code {"index", "score"}}, with {@code "text"} when {@code return_text}. */
    @Override
    public Object v1(Prediction p, boolean detailed) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("index", p.index());
        out.put("score", p.scores()[0]);
        if (returnText) {
            out.put("text", p.text());
        }
        return out;
    }

    @Override
    public Object answer(Prediction p) {
        return v1(p, false);
    }

    @Override
    public String summary(Prediction p) {
        return "text " + p.index() + " scores " + p.scores()[0];
    }
}
