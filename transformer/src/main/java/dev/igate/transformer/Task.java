package dev.igate.transformer;

import java.util.List;

import dev.igate.protocol.Tensor;

/**
 * What a sequence classifier's outputs mean, and every answer that depends on it, in one place:
 * KServe's Model has preprocess, predict, postprocess and explain; the tokenizer preprocesses and
 * the predictor predicts for every task alike, so a task is its postprocessing and what its
 * explanations and answers say. A new task is one class here and a name in {@link #of}: it
 * decodes the model's output tensor as the model shapes it ({@code [rows, labels]},
 * {@code [rows, tokens, labels]}, ...) with the tokenized texts beside it (token offsets into each
 * text, word ids), and answers in plain values (strings, numbers, lists and maps of them) that the
 * codecs render for V1, V2 and gRPC, so a task knows nothing of JSON or protobuf.
 *
 * <p>The tasks are HuggingFace's {@code problem_type}s: {@link LabelDecoder single-label}
 * classification (softmax, the most probable label), {@link MultiLabel multi-label} classification
 * (a sigmoid per label, every label over the threshold) and {@link Regression} (one value).
 */
public interface Task {

    String SINGLE_LABEL = "single_label_classification";
    String MULTI_LABEL = "multi_label_classification";
    String REGRESSION = "regression";
    String TOKEN_CLASSIFICATION = "token_classification";
    /** The tasks a model can be set to. */
    List<String> NAMES = List.of(SINGLE_LABEL, MULTI_LABEL, REGRESSION, TOKEN_CLASSIFICATION);

    /**
     * The task of a model.
     *
     * @param problemType config.json's problem_type, or null: regression for a single output, else single-label
     * @param labels      the name of each output column, from id2label
     * @throws IllegalArgumentException for another problem type, or outputs that do not fit it
     */
    static Task of(String problemType, List<String> labels) {
        String type = problemType != null ? problemType : labels.size() == 1 ? REGRESSION : SINGLE_LABEL;
        return switch (type) {
            case SINGLE_LABEL -> new LabelDecoder(labels);
            case MULTI_LABEL -> new MultiLabel(labels, MultiLabel.THRESHOLD);
            case REGRESSION -> new Regression(labels);
            case TOKEN_CLASSIFICATION -> new TokenClassification(labels, TokenClassification.Aggregation.SIMPLE, java.util.Set.of("O"));
            default -> throw new IllegalArgumentException("problem_type must be " + SINGLE_LABEL + ", " + MULTI_LABEL
                    + ", " + REGRESSION + " or " + TOKEN_CLASSIFICATION + ", was " + type);
        };
    }

    /**
     * The task a model does: an explicit setting ({@code igate.models.<name>.task}) first, then
     * config.json's {@code problem_type}, then its {@code architectures} (a
     * {@code *ForTokenClassification} class classifies tokens); null leaves it to the labels.
     */
    static String resolve(String configured, String problemType, List<String> architectures) {
        if (configured != null && !configured.isBlank()) {
            return configured.trim();
        }
        if (problemType != null) {
            return problemType;
        }
        return architectures.stream().anyMatch(a -> a.endsWith("ForTokenClassification")) ? TOKEN_CLASSIFICATION : null;
    }

    /**
     * This task as one request asks for it ({@code parameters}: the V1 or V2 request's), or this
     * task itself when the request changes nothing it knows; a parameter this task does not take
     * is left for others (the request's scheduling, say).
     *
     * @throws dev.igate.protocol.InvalidInputException for a value this task cannot take
     */
    default Task forRequest(java.util.Map<String, Object> parameters) {
        return this;
    }

    /**
     * The task one request asks of a model: zero-shot classification when its parameters name
     * {@code candidate_labels} (an NLI model), reranking when they name a {@code query} (a
     * cross-encoder), else the model's own task as the request {@link #forRequest steers} it.
     *
     * @param model      the model's name, for messages
     * @param pairs      whether the model reads pairs of texts
     * @param entailment the model's entailment label, or -1
     * @throws dev.igate.protocol.InvalidInputException for a request the model cannot serve this way
     */
    static Task forRequest(Task base, String model, boolean pairs, int entailment, java.util.Map<String, Object> parameters) {
        if (parameters.containsKey(ZeroShot.CANDIDATES)) {
            return ZeroShot.of(model, parameters, base.labels().size(), entailment);
        }
        if (parameters.containsKey(Rerank.QUERY)) {
            return Rerank.of(model, parameters, pairs, base.labels().size());
        }
        return base.forRequest(parameters);
    }

    /**
     * The rows the model runs for a request's rows: the rows themselves, or rows made from them
     * (zero-shot: each text with each hypothesis; rerank: the query with each text).
     *
     * @throws dev.igate.protocol.InvalidInputException for rows this task cannot take
     */
    default dev.igate.protocol.TextRows rows(dev.igate.protocol.TextRows request) {
        return request;
    }

    /** How pairs are cut to the model's length when a request does not say ({@code truncation}). */
    default TextEncoder.Truncation truncation() {
        return TextEncoder.Truncation.LONGEST_FIRST;
    }

    /** HuggingFace's name of the task. */
    String problemType();

    /** The name of each output column, in index order. */
    List<String> labels();

    /** Index of an output column by name, or -1. */
    default int indexOf(String label) {
        return labels().indexOf(label);
    }

    /**
     * Decodes the model's output for tokenized texts, one prediction per text.
     *
     * @param output the output tensor, its first dimension the texts (cut to {@code tokens.length()}
     *               tokens where the model answers per token)
     * @param tokens the texts as they were tokenized: token strings, word ids, character offsets
     * @throws IllegalArgumentException when the output's shape does not fit the task
     */
    List<Prediction> decode(Tensor output, TokenBatch tokens);

    /**
     * One text's V1 prediction, in plain values: the label, the labels, or the value; with
     * {@code detailed} ({@code ?probabilities=true}) a map with the scores of every output too.
     */
    Object v1(Prediction p, boolean detailed);

    /**
     * One text's element of the V2 prediction output, in plain values: a number (every text's a
     * number: an FP32 output), or a string or a structure (a BYTES output, a structure as its JSON).
     */
    Object answer(Prediction p);

    /** The prediction in words, as an explanation reports what the model predicted. */
    String summary(Prediction p);

    /**
     * The values of a {@code [rows, width]} output.
     *
     * @throws IllegalArgumentException for another shape
     */
    static float[] matrix(Tensor output, int rows, int width) {
        long[] shape = output.shape();
        if (shape.length != 2 || shape[0] != rows || shape[1] != width) {
            throw new IllegalArgumentException("the model's output " + output.name() + " has shape "
                    + java.util.Arrays.toString(shape) + ", expected [" + rows + ", " + width + "]: "
                    + rows + " texts x " + width + " labels");
        }
        return output.floats();
    }

    /** Scores by label, in label order, as detailed answers give them. */
    static java.util.Map<String, Object> byLabel(List<String> labels, float[] scores) {
        java.util.Map<String, Object> out = new java.util.LinkedHashMap<>();
        for (int i = 0; i < labels.size(); i++) {
            out.put(labels.get(i), scores[i]);
        }
        return out;
    }
}
