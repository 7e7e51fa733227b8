package dev.igate.explainer;

import java.util.ArrayList;
import java.util.List;

import dev.igate.predictor.batching.InstanceScheduler;
import dev.igate.protocol.Explanation;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Tensor;
import dev.igate.transformer.LabelDecoder;
import dev.igate.transformer.Prediction;
import dev.igate.transformer.Task;
import dev.igate.transformer.TextEncoder;
import dev.igate.transformer.TokenBatch;

/**
 * Explains a text classifier's prediction for one text: tokenizes it, runs
 * {@link IntegratedGradients} against the [CLS] + [PAD]… + [SEP] (or zero) baseline, and turns
 * per-token attributions into normalised word importances. The model runs go through the version's
 * scheduler, so they share the device's instances with predictions. Blocking; thread-safe.
 */
public final class TextExplainer implements AutoCloseable {

    private final IntegratedGradients ig;
    private final TextEncoder encoder;
    private final Task task;
    private final InstanceScheduler scheduler;

    public TextExplainer(IntegratedGradients ig, TextEncoder encoder, Task task, InstanceScheduler scheduler) {
        this.ig = ig;
        this.encoder = encoder;
        this.task = task;
        this.scheduler = scheduler;
    }

    /** Where this explainer's pieces run: the version's scheduler. */
    public InstanceScheduler scheduler() {
        return scheduler;
    }

    public IntegratedGradients integratedGradients() {
        return ig;
    }

    /**
     * @throws InvalidInputException when the target is not a label or class index of the model, or
     *                               the black-box method is refused for a model without a gradient graph
     */
    public Explanation explain(String text, ExplainOptions options) {
        return explain(text, options, scheduler);
    }

    /**
     * A text (or a pair of texts) and its tokens: tokenized once for both the work estimate and the
     * explanation.
     *
     * @param pair the second text, or null
     */
    public record Tokenized(String text, String pair, TokenBatch batch) {
    }

    /** Tokenizes a text for {@link #workTokens} and {@link #explain(Tokenized, ExplainOptions, InstanceScheduler)}. */
    public Tokenized tokenize(String text) {
        return new Tokenized(text, null, encoder.encode(List.of(text)));
    }

    /**
     * Tokenizes a pair of texts as the model reads it ({@code [CLS] text [SEP] pair [SEP]}).
     *
     * @throws InvalidInputException when the pair cannot be cut to the model's length the way asked
     */
    public Tokenized tokenize(String text, String pair, TextEncoder.Truncation truncation) {
        try {
            return new Tokenized(text, pair, encoder.encodePairs(List.of(text), List.of(pair), truncation));
        } catch (IllegalArgumentException e) {
            throw new InvalidInputException(e.getMessage());
        }
    }

    /**
     * The output an explanation attributes when the caller fixes it, instead of the request's
     * {@code target}: a class (zero-shot's entailment label, rerank's score), or a weighting of a
     * per-token model's outputs (an entity: its label's logits over its tokens).
     *
     * @param index   the class, or -1 with weights
     * @param weights per output of the row ({@code tokens x labels}), or null
     */
    public record Target(int index, float[] weights) {

        public static Target ofClass(int index) {
            return new Target(index, null);
        }

        public static Target ofWeights(float[] weights) {
            return new Target(-1, weights.clone());
        }

        Objective objective() {
            return weights != null ? Objective.ofWeights(weights) : Objective.ofClass(index);
        }
    }

    /**
     * Model tokens explaining the text costs (rows run x tokens per row): what a request's work
     * budget counts.
     */
    public long workTokens(Tokenized text, ExplainOptions options) {
        int seq = text.batch().ids(0).length;
        return ig.rows(seq, Quadrature.of(options.method(), options.steps()).alphas().length, options.gradients()) * seq;
    }

    /**
     * As {@link #explain(String, ExplainOptions)}, the pieces going through {@code via} (the
     * version's scheduler, or a wrapper of it that can stop an explanation between pieces).
     */
    public Explanation explain(String text, ExplainOptions options, InstanceScheduler via) {
        return explain(tokenize(text), options, via);
    }

    /** As {@link #explain(String, ExplainOptions, InstanceScheduler)}, for a text already tokenized. */
    public Explanation explain(Tokenized tokenized, ExplainOptions options, InstanceScheduler via) {
        return explain(tokenized, options, via, null);
    }

    /**
     * As {@link #explain(Tokenized, ExplainOptions, InstanceScheduler)}, attributing {@code fixed}
     * when given. A pair's words are each text's words, each with its segment (0 the text, 1 the pair).
     */
    public Explanation explain(Tokenized tokenized, ExplainOptions options, InstanceScheduler via, Target fixed) {
        return explain(tokenized, options, via, fixed == null ? null : List.of(fixed), fixed != null).get(0);
    }

    /**
     * One explanation per class of one text ({@code top_k}'s classes, in their order; each against
     * {@code contrast_with} when asked), sharing what the method allows: the text's tokens and
     * baselines, F(x) and F(baseline), and every forward pass of the black-box methods (occlusion,
     * SHAP, black-box gradients: a forward pass gives every output); the gradient graph runs its path
     * once per class, a gradient being of one objective.
     */
    public List<Explanation> explainClasses(Tokenized tokenized, ExplainOptions options, InstanceScheduler via, List<Integer> classes) {
        return explain(tokenized, options, via, classes.stream().map(Target::ofClass).toList(), false);
    }

    /** @param fixed whether the targets are a task's own (zero-shot's entailment, rerank's score, an entity): never contrasted */
    private List<Explanation> explain(Tokenized tokenized, ExplainOptions options, InstanceScheduler via, List<Target> targets,
                                      boolean fixed) {
        long start = System.nanoTime();
        if (IntegratedGradients.GRAPH.equals(options.gradients()) && !ig.hasGradientGraph()) {
            throw new InvalidInputException("gradients=graph is unavailable for this model: "
                    + ig.gradientUnavailableReason() + "; use gradients=blackbox");
        }
        TokenBatch batch = tokenized.batch();
        long[] ids = batch.ids(0);
        List<IntegratedGradients.Sample> samples = new ArrayList<>();
        for (String name : options.baselines()) {
            samples.add(new IntegratedGradients.Sample(ids, batch.mask(0), batch.types(0), baselineIds(batch, name, options.baselineText())));
        }
        List<Objective> objectives = new ArrayList<>();
        List<Integer> contrasts = new ArrayList<>();
        float[] predicted = null;
        for (Target t : targets == null ? java.util.Collections.<Target>singletonList(null) : targets) {
            Objective target = t != null ? t.objective() : Objective.ofClass(resolveTarget(options.target()));
            int contrast = options.contrastWith() == null || fixed ? -1 : resolveTarget(options.contrastWith());
            if (contrast >= 0) {
                // logit[target] - logit[contrast_with]: the target, when not named, is the predicted class
                if (target.target() < 0 && predicted == null) {
                    predicted = ig.forward(ids, batch.mask(0), batch.types(0), via);
                }
                int c = target.target() >= 0 ? target.target() : LabelDecoder.argmax(predicted);
                if (c == contrast) {
                    throw new InvalidInputException("contrast_with names the target itself (" + task.labels().get(c) + "): nothing to contrast");
                }
                float[] weights = new float[task.labels().size()];
                weights[c] = 1;
                weights[contrast] = -1;
                target = Objective.ofContrast(c, weights);
            }
            objectives.add(target);
            contrasts.add(contrast);
        }
        List<Attribution> attributions;
        try {
            attributions = averaged(samples, batch, objectives, options, via);
        } catch (IllegalArgumentException e) {
            // a method the model cannot take (saliency without a gradient graph) or an objective that does not fit it
            throw new InvalidInputException(e.getMessage());
        }
        List<Explanation> out = new ArrayList<>();
        for (int k = 0; k < attributions.size(); k++) {
            out.add(answer(tokenized, options, attributions.get(k), objectives.get(k), contrasts.get(k), samples.get(0), via, start));
        }
        return out;
    }

    /** An attribution of a text as the explain answer words it: merged words, their spans and importances, the prediction. */
    private Explanation answer(Tokenized tokenized, ExplainOptions options, Attribution a, Objective target, int contrast,
                               IntegratedGradients.Sample sample, InstanceScheduler via, long start) {
        TokenBatch batch = tokenized.batch();
        long[] ids = batch.ids(0);
        List<String> words = new ArrayList<>();
        List<Double> scores = new ArrayList<>();
        List<Integer> segments = new ArrayList<>();
        List<int[]> spans = new ArrayList<>();
        String[] tokens = batch.tokens()[0];
        long[] wordIds = batch.wordIds()[0];
        long[] sequences = batch.sequenceIds()[0];
        int previousWord = -2;
        long previousSequence = -2;
        for (int i = 0; i < ids.length; i++) {
            int word = (int) wordIds[i];
            // a token's span indexes into the text it came from: a pair's second text for sequence 1
            String source = sequences[i] == 1 ? tokenized.pair() : tokenized.text();
            if (options.mergeSubwords() && word >= 0 && word == previousWord && sequences[i] == previousSequence) {
                int last = words.size() - 1;
                int from = firstTokenOf(wordIds, sequences, i);
                words.set(last, source.substring(batch.charStarts()[0][from], batch.charEnds()[0][i]));
                scores.set(last, scores.get(last) + a.scores()[i]);
                spans.set(last, new int[] {spans.get(last)[0], source.codePointCount(0, batch.charEnds()[0][i])});
            } else {
                boolean hasSpan = batch.charStarts()[0][i] >= 0;
                words.add(options.mergeSubwords() && hasSpan
                        ? source.substring(batch.charStarts()[0][i], batch.charEnds()[0][i]) : tokens[i]);
                scores.add(a.scores()[i]);
                segments.add((int) sequences[i]);
                spans.add(hasSpan ? new int[] {source.codePointCount(0, batch.charStarts()[0][i]),
                        source.codePointCount(0, batch.charEnds()[0][i])} : new int[] {-1, -1});
            }
            previousWord = word;
            previousSequence = sequences[i];
        }
        double norm = 0;
        for (double s : scores) {
            norm += s * s;
        }
        norm = Math.sqrt(norm);
        double[] raw = scores.stream().mapToDouble(Double::doubleValue).toArray();
        double[] importances = new double[raw.length];
        for (int i = 0; i < raw.length; i++) {
            importances[i] = norm > 0 ? raw[i] / norm : 0;
        }
        // the row's outputs as the model shapes them: [1, labels], or [1, tokens, labels] for a per-token model
        int width = task.labels().size();
        long[] shape = a.logits().length == width ? new long[] {1, width} : new long[] {1, a.logits().length / width, width};
        Prediction predicted = task.decode(Tensor.ofFloats("logits", shape, a.logits()), batch).get(0);
        return new Explanation(words, importances, a.delta(), a.target() >= 0 ? task.labels().get(a.target()) : "entity", a.target(),
                task.summary(predicted), task.labels(), predicted.scores(), raw, options.method(), a.gradients(),
                a.steps(), (System.nanoTime() - start) / 1e6, approximation(a),
                tokenized.pair() == null ? null : segments.stream().mapToInt(Integer::intValue).toArray(), options.explainer(),
                spans.stream().mapToInt(span -> span[0]).toArray(), spans.stream().mapToInt(span -> span[1]).toArray(),
                options.evaluate() ? Faithfulness.evaluate(ig, sample, target.weighted() ? target : Objective.ofClass(a.target()), words(batch),
                        a.scores(), via) : null, contrast >= 0 ? task.labels().get(contrast) : null, a.rows(), options.baselines());
    }

    /**
     * ERASER's faithfulness of any per-token scores of a text (a reference ranking, scores made
     * elsewhere), for the predicted class: the measures {@code evaluate: true} adds to an explanation.
     */
    public Explanation.Faithfulness faithfulness(Tokenized tokenized, ExplainOptions options, double[] tokenScores,
                                                 InstanceScheduler via) {
        TokenBatch batch = tokenized.batch();
        long[] ids = batch.ids(0);
        long[] baseline = baselineIds(batch, options.baseline(), options.baselineText());
        IntegratedGradients.Sample sample = new IntegratedGradients.Sample(ids, batch.mask(0), batch.types(0), baseline);
        int predicted = LabelDecoder.argmax(ig.forward(ids, batch.mask(0), batch.types(0), via));
        return Faithfulness.evaluate(ig, sample, Objective.ofClass(predicted), words(batch), tokenScores, via);
    }

    /** The attributions the options' explainer makes of the objectives, in their order. */
    private List<Attribution> attribute(IntegratedGradients.Sample sample, TokenBatch batch, List<Objective> targets, ExplainOptions options,
                                        InstanceScheduler via) {
        return switch (options.explainer()) {
            case ExplainOptions.GRADIENT_X_INPUT, ExplainOptions.SALIENCY ->
                    ig.gradientAtInput(sample, targets, options.explainer().equals(ExplainOptions.SALIENCY), options.gradients(), via);
            case ExplainOptions.OCCLUSION -> ig.occlusion(sample, targets, words(batch), options.internalBatchSize(), via);
            case ExplainOptions.SHAP -> ig.kernelShap(sample, targets, words(batch), options.samples(), options.seed(),
                    options.internalBatchSize(), via);
            default -> integratedGradients(sample, targets, options, via);
        };
    }

    /** Each token's word, numbered across both texts of a pair; -1 for special tokens: what occlusion leaves out at once. */
    static int[] words(TokenBatch batch) {
        long[] wordIds = batch.wordIds()[0];
        long[] sequences = batch.sequenceIds()[0];
        int[] groups = new int[wordIds.length];
        int next = -1;
        for (int i = 0; i < groups.length; i++) {
            boolean continues = i > 0 && wordIds[i] >= 0 && wordIds[i] == wordIds[i - 1] && sequences[i] == sequences[i - 1];
            groups[i] = wordIds[i] < 0 ? -1 : continues ? next : ++next;
        }
        return groups;
    }

    /** Integrated gradients along the straight path, with steps doubled until they converge when asked ({@code n_steps: auto}). */
    private List<Attribution> integratedGradients(IntegratedGradients.Sample sample, List<Objective> targets, ExplainOptions options,
                                                  InstanceScheduler via) {
        if (!options.adaptive()) {
            return ig.attribute(sample, targets, Quadrature.of(options.method(), options.steps()), options.gradients(),
                    options.internalBatchSize(), via);
        }
        // double the steps until the quadrature has converged for every target (delta small against the change), up to the cap
        int steps = Math.min(ExplainOptions.FIRST_ADAPTIVE_STEPS, options.steps());
        while (true) {
            List<Attribution> all = ig.attribute(sample, targets, Quadrature.of(options.method(), steps), options.gradients(),
                    options.internalBatchSize(), via);
            boolean converged = all.stream().allMatch(a -> Math.abs(a.delta()) <= ExplainOptions.DELTA_TOLERANCE * Math.abs(a.change()));
            if (steps >= options.steps() || converged) {
                return all;
            }
            steps = Math.min(options.steps(), 2 * steps);
        }
    }

    /**
     * A baseline's token ids: the text's, every word's tokens replaced by the baseline's token, or
     * for {@code text} by the custom text's tokens in order ([PAD] once they run out); null for zeros.
     */
    private long[] baselineIds(TokenBatch batch, String name, String text) {
        if (name.equals(ExplainOptions.ZEROS)) {
            return null;
        }
        long[] custom = null;
        if (name.equals(ExplainOptions.TEXT)) {
            TokenBatch other = encoder.encode(List.of(text));
            long[] all = other.ids(0);
            custom = java.util.stream.IntStream.range(0, all.length).filter(i -> other.wordIds()[0][i] >= 0).mapToLong(i -> all[i]).toArray();
        }
        long token = custom != null ? encoder.padId() : baselineToken(name);
        long[] baseline = batch.ids(0);
        int next = 0;
        for (int i = 0; i < baseline.length; i++) {
            if (batch.wordIds()[0][i] >= 0) {
                baseline[i] = custom != null && next < custom.length ? custom[next++] : token;
            }
        }
        return baseline;
    }

    /**
     * The attribution averaged over several baselines (expected gradients' idea: a distribution of
     * references, not one): scores, delta and change are the means; the model rows are summed.
     */
    private List<Attribution> averaged(List<IntegratedGradients.Sample> samples, TokenBatch batch, List<Objective> targets,
                                       ExplainOptions options, InstanceScheduler via) {
        List<Attribution> firsts = attribute(samples.get(0), batch, targets, options, via);
        if (samples.size() == 1) {
            return firsts;
        }
        // the later baselines attribute the classes the first resolved (the predicted one, for -1)
        List<Objective> resolved = new ArrayList<>();
        for (int k = 0; k < targets.size(); k++) {
            resolved.add(targets.get(k).weighted() ? targets.get(k) : Objective.ofClass(firsts.get(k).target()));
        }
        List<List<Attribution>> rest = new ArrayList<>();
        for (IntegratedGradients.Sample s : samples.subList(1, samples.size())) {
            rest.add(attribute(s, batch, resolved, options, via));
        }
        List<Attribution> out = new ArrayList<>();
        for (int k = 0; k < targets.size(); k++) {
            Attribution first = firsts.get(k);
            double[] scores = first.scores().clone();
            double delta = first.delta();
            double change = first.change();
            long rows = first.rows();
            float[] baselineLogits = first.baselineLogits().clone();
            for (List<Attribution> others : rest) {
                Attribution next = others.get(k);
                for (int i = 0; i < scores.length; i++) {
                    scores[i] += next.scores()[i];
                }
                for (int c = 0; c < baselineLogits.length; c++) {
                    baselineLogits[c] += next.baselineLogits()[c];
                }
                delta += next.delta();
                change += next.change();
                rows += next.rows();
            }
            int n = samples.size();
            for (int i = 0; i < scores.length; i++) {
                scores[i] /= n;
            }
            for (int c = 0; c < baselineLogits.length; c++) {
                baselineLogits[c] /= n;
            }
            out.add(new Attribution(scores, delta / n, first.target(), first.logits(), baselineLogits, first.gradients(), first.steps(), rows,
                    first.stepDisagreement(), change / n));
        }
        return out;
    }

    /** The token a baseline puts in place of every word: [PAD], [MASK] or [UNK] (or their sentencepiece forms). */
    private long baselineToken(String baseline) {
        return switch (baseline) {
            case ExplainOptions.MASK -> required(encoder.tokenId("[MASK]", "<mask>"), "mask", "[MASK]");
            case ExplainOptions.UNK -> required(encoder.tokenId("[UNK]", "<unk>"), "unk", "[UNK]");
            default -> encoder.padId();
        };
    }

    private static long required(long id, String baseline, String token) {
        if (id < 0) {
            throw new InvalidInputException("baseline " + baseline + " needs a " + token + " token, and this tokenizer has none");
        }
        return id;
    }

    /** Relative distance between the black-box scores at steps h and h/2 past which they are called unreliable. */
    static final double STEP_TOLERANCE = 0.05;

    /** A convergence delta past this share of the logit change marks an answer approximate. */
    static final double DELTA_TOLERANCE = 0.1;

    /** Why an attribution is only approximate, or null. */
    private String approximation(Attribution a) {
        List<String> why = new ArrayList<>();
        if (IntegratedGradients.BLACKBOX.equals(a.gradients())) {
            why.add("gradients estimated by finite differences (black-box method"
                    + (ig.hasGradientGraph() ? ", as requested)" : ": " + ig.gradientUnavailableReason() + ")"));
            if (a.stepDisagreement() > STEP_TOLERANCE) {
                why.add(String.format(java.util.Locale.ROOT, "the finite differences at steps h and h/2 differ by %.0f%%:"
                        + " the model is not smooth at this scale, so these importances are unreliable", 100 * a.stepDisagreement()));
            }
        } else if (ig.straightThrough() != null) {
            why.add("straight-through gradients: quantization (" + ig.straightThrough() + " and the like) taken as the identity");
        }
        double change = Math.abs(a.change());
        if (!Double.isNaN(a.delta()) && Math.abs(a.delta()) > DELTA_TOLERANCE * change) {
            why.add(String.format(java.util.Locale.ROOT, "convergence delta %.3g is %.0f%% of the logit change %.3g: raise n_steps",
                    a.delta(), change == 0 ? 100 : 100 * Math.abs(a.delta()) / change, change));
        }
        return why.isEmpty() ? null : String.join("; ", why);
    }

    private static int firstTokenOf(long[] wordIds, long[] sequences, int i) {
        int j = i;
        while (j > 0 && wordIds[j - 1] == wordIds[i] && sequences[j - 1] == sequences[i]) {
            j--;
        }
        return j;
    }

    private int resolveTarget(String target) {
        if (target == null || target.isEmpty()) {
            return -1;
        }
        int byLabel = task.indexOf(target);
        if (byLabel >= 0) {
            return byLabel;
        }
        if (target.matches("\\d{1,9}") && Integer.parseInt(target) < task.labels().size()) {
            return Integer.parseInt(target);
        }
        throw new InvalidInputException("target must be one of " + task.labels() + " or an index below "
                + task.labels().size() + ", was " + target);
    }

    @Override
    public void close() {
        ig.close();
    }
}
