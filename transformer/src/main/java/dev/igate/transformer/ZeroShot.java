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
 * Zero-shot classification with an NLI model, as HuggingFace's pipeline computes it: each text
 * (the premise) against one hypothesis per candidate label ({@code hypothesis_template} with the
 * label in place of {@code {}}, by default {@value #DEFAULT_TEMPLATE}); with one label or
 * {@code multi_label}, each label's score is the softmax of its [contradiction, entailment] logits'
 * entailment part, else the softmax of the entailment logits across the labels. Answers
 * {@code {"sequence", "labels", "scores"}}, labels sorted by score, highest first.
 */
public final class ZeroShot implements Task {

    public static final String PROBLEM_TYPE = "zero_shot_classification";
    public static final String CANDIDATES = "candidate_labels";
    public static final String TEMPLATE = "hypothesis_template";
    public static final String MULTI_LABEL = "multi_label";
    public static final String DEFAULT_TEMPLATE = "This example is {}.";

    private final List<String> candidates;
    private final List<String> hypotheses;
    private final boolean multiLabel;
    private final int entailment;
    private final int contradiction;
    private final int width;

    /**
     * @param width      the NLI model's number of labels
     * @param entailment its entailment label's index; the contradiction label is the first, or the last when
     *                   entailment is the first (as the pipeline takes it)
     */
    ZeroShot(List<String> candidates, String template, boolean multiLabel, int width, int entailment) {
        this.candidates = List.copyOf(candidates);
        this.hypotheses = candidates.stream().map(label -> template.replace("{}", label)).toList();
        this.multiLabel = multiLabel || candidates.size() == 1;
        this.width = width;
        this.entailment = entailment;
        this.contradiction = entailment == 0 ? width - 1 : 0;
    }

    /**
     * The zero-shot task a request's parameters ask for.
     *
     * @param model the model's name, for messages
     * @throws InvalidInputException for missing or empty candidate labels, a template without {@code {}}, a
     *                               {@code multi_label} that is not a boolean, or a model without an entailment label
     */
    static ZeroShot of(String model, Map<String, Object> parameters, int width, int entailment) {
        if (entailment < 0) {
            throw new InvalidInputException("Model " + model + " cannot classify zero-shot: it is not an NLI model (no label "
                    + "starting with \"entail\" in its config.json's label2id)");
        }
        List<String> candidates = candidates(parameters.get(CANDIDATES));
        Object t = parameters.get(TEMPLATE);
        if (t != null && !(t instanceof String)) {
            throw new InvalidInputException("Parameter " + TEMPLATE + " must be a string, was " + t);
        }
        String template = t == null ? DEFAULT_TEMPLATE : (String) t;
        if (template.replace("{}", candidates.get(0)).equals(template)) {
            throw new InvalidInputException("The provided hypothesis_template \"" + template + "\" was not able to be formatted with "
                    + "the target labels. Make sure the passed template includes formatting syntax such as {} where the label should go.");
        }
        return new ZeroShot(candidates, template, Parameters.flag(parameters, MULTI_LABEL), width, entailment);
    }

    /** Candidate labels as a list of strings, or (as older HuggingFace clients send them) one comma-separated string. */
    private static List<String> candidates(Object value) {
        List<String> out = new ArrayList<>();
        if (value instanceof String s) {
            // a JSON list as the transports keep one (its text), or a comma-separated string
            out.addAll(dev.igate.protocol.Json.stringList(s, "Parameter " + CANDIDATES));
        } else if (value instanceof List<?> list) {
            for (Object label : list) {
                if (!(label instanceof String s) || s.isBlank()) {
                    throw new InvalidInputException("Parameter " + CANDIDATES + " must hold non-empty strings, was " + value);
                }
                out.add(s);
            }
        } else if (value != null) {
            throw new InvalidInputException("Parameter " + CANDIDATES + " must be a list of labels or a comma-separated string, was " + value);
        }
        if (out.isEmpty()) {
            throw new InvalidInputException("Zero-shot classification needs at least one label in parameter " + CANDIDATES);
        }
        return out;
    }

    /** Each text against each hypothesis, the texts cut first (truncation only_first). */
    @Override
    public TextRows rows(TextRows request) {
        if (request.paired()) {
            throw new InvalidInputException("Zero-shot classification takes single texts: each is paired with the hypotheses of "
                    + CANDIDATES + ", so a text_pair has no place");
        }
        List<String> premises = new ArrayList<>(request.size() * candidates.size());
        List<String> pairs = new ArrayList<>(request.size() * candidates.size());
        for (String text : request.texts()) {
            for (String hypothesis : hypotheses) {
                premises.add(text);
                pairs.add(hypothesis);
            }
        }
        return new TextRows(premises, pairs);
    }

    @Override
    public TextEncoder.Truncation truncation() {
        return TextEncoder.Truncation.ONLY_FIRST;
    }

    @Override
    public String problemType() {
        return PROBLEM_TYPE;
    }

    /** The candidate labels, in the request's order. */
    @Override
    public List<String> labels() {
        return candidates;
    }

    public boolean multiLabel() {
        return multiLabel;
    }

    @Override
    public List<Prediction> decode(Tensor output, TokenBatch tokens) {
        int n = candidates.size();
        float[] logits = Task.matrix(output, tokens.rows(), width);
        List<Prediction> out = new ArrayList<>(tokens.rows() / n);
        for (int row = 0; row < tokens.rows(); row += n) {
            float[] scores = new float[n];
            if (multiLabel) {
                for (int c = 0; c < n; c++) {
                    int o = (row + c) * width;
                    scores[c] = (float) (1 / (1 + Math.exp(logits[o + contradiction] - logits[o + entailment])));
                }
            } else {
                double max = Double.NEGATIVE_INFINITY;
                for (int c = 0; c < n; c++) {
                    max = Math.max(max, logits[(row + c) * width + entailment]);
                }
                double sum = 0;
                double[] e = new double[n];
                for (int c = 0; c < n; c++) {
                    e[c] = Math.exp(logits[(row + c) * width + entailment] - max);
                    sum += e[c];
                }
                for (int c = 0; c < n; c++) {
                    scores[c] = (float) (e[c] / sum);
                }
            }
            Integer[] order = new Integer[n];
            for (int c = 0; c < n; c++) {
                order[c] = c;
            }
            // highest first; equal scores keep the request's order
            Arrays.sort(order, (a, b) -> Float.compare(scores[b], scores[a]));
            List<String> sorted = new ArrayList<>(n);
            for (int c : order) {
                sorted.add(candidates.get(c));
            }
            out.add(new Prediction(order[0], candidates.get(order[0]), scores, sorted, List.of(), tokens.texts().get(row)));
        }
        return out;
    }

    /** {@code {"sequence", "labels", "scores"}}, labels sorted, scores in their order. */
    @Override
    public Object v1(Prediction p, boolean detailed) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("sequence", p.text());
        out.put("labels", p.labels());
        List<Float> scores = new ArrayList<>(p.labels().size());
        for (String label : p.labels()) {
            scores.add(p.scores()[candidates.indexOf(label)]);
        }
        out.put("scores", scores);
        return out;
    }

    @Override
    public Object answer(Prediction p) {
        return v1(p, false);
    }

    @Override
    public String summary(Prediction p) {
        return p.label();
    }
}
