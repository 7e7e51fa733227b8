package dev.igate.explainer;

import java.util.Locale;
import java.util.Map;

import dev.igate.protocol.InvalidInputException;

/**
 * What an explain request asks for.
 *
 * @param target            label or class index to attribute, or null for the predicted class
 * @param steps             quadrature points ({@code n_steps}); with {@code adaptive}, the most that may be used
 * @param method            {@code gausslegendre} or {@code riemann_trapezoid}
 * @param baseline          {@code pad} ([CLS] + [PAD]… + [SEP] embeddings) or {@code zeros}
 * @param gradients         {@code graph}, {@code blackbox}, or null for the graph when the model has one
 * @param mergeSubwords     sum sub-word scores into whole words
 * @param internalBatchSize rows per ONNX Runtime run, 0 to size by sequence length
 * @param adaptive          {@code n_steps: "auto"}: steps double from {@link #FIRST_ADAPTIVE_STEPS} until the
 *                          convergence delta is within {@link #DELTA_TOLERANCE} of the logit change, up to {@code steps}
 * @param explainer         the attribution method ({@code explainer}): {@code integrated_gradients} (the default),
 *                          {@code gradient_x_input}, {@code saliency}, {@code occlusion} or {@code shap}
 * @param evaluate          measure the explanation's faithfulness ({@code evaluate: true}: ERASER's comprehensiveness
 *                          and sufficiency, leave-one-out rank correlation)
 * @param contrastWith      a second label or class index: attribute {@code logit[target] - logit[contrast_with]}, or null
 * @param samples           kernel SHAP's coalitions ({@code n_samples})
 * @param seed              kernel SHAP's random seed ({@code seed}): the same seed, the same coalitions
 * @param baselines         every baseline asked for ({@code baseline} as a list): the attributions are averaged over
 *                          them, as expected gradients average over a distribution; the first is {@code baseline}
 * @param baselineText      the text of the {@code text} baseline ({@code baseline_text}), or null
 */
public record ExplainOptions(String target, int steps, String method, String baseline, String gradients,
                             boolean mergeSubwords, int internalBatchSize, boolean adaptive, String explainer, boolean evaluate,
                             String contrastWith, int samples, long seed, java.util.List<String> baselines, String baselineText) {

    public ExplainOptions {
        baselines = baselines == null || baselines.isEmpty() ? java.util.List.of(baseline) : java.util.List.copyOf(baselines);
    }

    public static final String INTEGRATED_GRADIENTS = "integrated_gradients";
    public static final String GRADIENT_X_INPUT = "gradient_x_input";
    public static final String SALIENCY = "saliency";
    public static final String OCCLUSION = "occlusion";
    /** Shapley values of the words by Kernel SHAP (the contract's name; {@code kernel_shap} is taken as the same). */
    public static final String SHAP = "shap";
    public static final java.util.List<String> EXPLAINERS = java.util.List.of(INTEGRATED_GRADIENTS, GRADIENT_X_INPUT, SALIENCY, OCCLUSION,
            SHAP);
    /** Kernel SHAP's coalitions when a request names none, and the most it may ask for. */
    public static final int DEFAULT_SAMPLES = 256;
    public static final int MAX_SAMPLES = 4096;

    /** The parameters {@link #from} reads. */
    public static final java.util.Set<String> NAMES = java.util.Set.of("target", "n_steps", "method", "baseline", "gradients",
            "merge_subwords", "internal_batch_size", "explainer", "evaluate", "contrast_with", "n_samples", "seed", "baseline_text");

    /** With the adaptive flag, integrated gradients. */
    public ExplainOptions(String target, int steps, String method, String baseline, String gradients,
                          boolean mergeSubwords, int internalBatchSize, boolean adaptive) {
        this(target, steps, method, baseline, gradients, mergeSubwords, internalBatchSize, adaptive, INTEGRATED_GRADIENTS, false, null, DEFAULT_SAMPLES, 0, null, null);
    }

    /** These options with another internal batch size. */
    public ExplainOptions withInternalBatchSize(int size) {
        return new ExplainOptions(target, steps, method, baseline, gradients, mergeSubwords, size, adaptive, explainer, evaluate,
                contrastWith, samples, seed, baselines, baselineText);
    }

    /**
     * Refuses a parameter nobody reads, naming it (and the known name it is closest to, for a
     * misspelling such as {@code n_step}): silently ignored, it would give a plausible but different
     * explanation than the one asked for.
     *
     * @param others the names the rest of the request reads (a task's, a transport's)
     * @throws InvalidInputException for the first unknown name, in the request's order
     */
    public static void checkNames(java.util.Collection<String> names, java.util.Set<String> others) {
        for (String name : names) {
            if (!NAMES.contains(name) && !others.contains(name)) {
                String closest = null;
                int best = 3;
                for (String known : new java.util.TreeSet<>(NAMES)) {
                    int d = distance(name, known);
                    if (d < best) {
                        best = d;
                        closest = known;
                    }
                }
                throw new InvalidInputException("Unknown explain parameter " + name + (closest == null ? "" : " (did you mean "
                        + closest + "?)") + "; explain takes " + new java.util.TreeSet<>(NAMES) + " and the task's " + new java.util.TreeSet<>(others));
            }
        }
    }

    /** Levenshtein distance. */
    private static int distance(String a, String b) {
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                current[j] = Math.min(Math.min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }
            int[] swap = previous;
            previous = current;
            current = swap;
        }
        return previous[b.length()];
    }

    public static final int FIRST_ADAPTIVE_STEPS = 16;
    /** |delta| at most this share of |F(x)[t] - F(x')[t]| ends adaptive steps. */
    public static final double DELTA_TOLERANCE = 0.01;

    /** Fixed steps. */
    public ExplainOptions(String target, int steps, String method, String baseline, String gradients,
                          boolean mergeSubwords, int internalBatchSize) {
        this(target, steps, method, baseline, gradients, mergeSubwords, internalBatchSize, false, INTEGRATED_GRADIENTS, false, null, DEFAULT_SAMPLES, 0, null, null);
    }

    public static final String PAD = "pad";
    public static final String ZEROS = "zeros";
    public static final String MASK = "mask";
    public static final String UNK = "unk";
    /** A custom baseline: the tokens of {@code baseline_text} in place of the words'. */
    public static final String TEXT = "text";
    /** {@code pad}, {@code mask}, {@code unk}: those tokens' embeddings in place of every word's, special tokens kept; {@code zeros}. */
    public static final java.util.List<String> BASELINES = java.util.List.of(PAD, ZEROS, MASK, UNK);

    /**
     * Reads the request parameters {@code target, n_steps, method, baseline, gradients,
     * merge_subwords, internal_batch_size}.
     *
     * @throws InvalidInputException naming the parameter when a value is out of range or of the wrong type
     */
    public static ExplainOptions from(Map<String, Object> p, int defaultSteps, int maxSteps) {
        Object t = p.get("target");
        String target = t == null ? null : String.valueOf(t);
        boolean adaptive = "auto".equals(p.get("n_steps"));
        int steps = adaptive ? maxSteps : integer(p, "n_steps", defaultSteps);
        String method = string(p, "method", Quadrature.GAUSS_LEGENDRE);
        int minSteps = method.equals(Quadrature.RIEMANN_TRAPEZOID) ? 2 : 1;
        if (steps < minSteps || steps > maxSteps) {
            throw new InvalidInputException("n_steps must be between " + minSteps + " and " + maxSteps + ", was " + steps);
        }
        if (!method.equals(Quadrature.GAUSS_LEGENDRE) && !method.equals(Quadrature.RIEMANN_TRAPEZOID)) {
            throw new InvalidInputException("method must be one of [gausslegendre, riemann_trapezoid], was " + method);
        }
        Object text = p.get("baseline_text");
        if (text != null && !(text instanceof String)) {
            throw new InvalidInputException("baseline_text must be a string, was " + text);
        }
        Object asked = p.get("baseline");
        java.util.List<String> baselines = asked == null ? java.util.List.of(text != null ? TEXT : PAD)
                : asked instanceof String b && b.strip().startsWith("[") ? dev.igate.protocol.Json.stringList(b, "baseline")
                : java.util.List.of(string(p, "baseline", PAD));
        if (baselines.isEmpty() || baselines.size() > 8) {
            throw new InvalidInputException("baseline must name 1 to 8 baselines, was " + asked);
        }
        baselines = baselines.stream().map(b -> b.toLowerCase(Locale.ROOT)).toList();
        for (String b : baselines) {
            if (!BASELINES.contains(b) && !b.equals(TEXT)) {
                throw new InvalidInputException("baseline must be one of " + BASELINES + " or text (with baseline_text), or a list of "
                        + "them, was " + b);
            }
        }
        if (baselines.contains(TEXT) != (text != null)) {
            throw new InvalidInputException(text == null ? "baseline text needs baseline_text" : "baseline_text needs baseline text");
        }
        String baseline = baselines.get(0);
        String gradients = p.containsKey("gradients") ? string(p, "gradients", null) : null;
        if (gradients != null && !gradients.equals(IntegratedGradients.GRAPH) && !gradients.equals(IntegratedGradients.BLACKBOX)) {
            throw new InvalidInputException("gradients must be one of [graph, blackbox], was " + gradients);
        }
        boolean merge = bool(p, "merge_subwords");
        int batch = integer(p, "internal_batch_size", 0);
        if (batch < 0 || batch > 4096) {
            throw new InvalidInputException("internal_batch_size must be between 1 and 4096, was " + batch);
        }
        String explainer = string(p, "explainer", INTEGRATED_GRADIENTS);
        explainer = explainer.equals("kernel_shap") ? SHAP : explainer;
        if (!EXPLAINERS.contains(explainer)) {
            throw new InvalidInputException("explainer must be one of " + EXPLAINERS + ", was " + explainer);
        }
        Object contrast = p.get("contrast_with");
        int samples = integer(p, "n_samples", DEFAULT_SAMPLES);
        if (samples < 16 || samples > MAX_SAMPLES) {
            throw new InvalidInputException("n_samples must be between 16 and " + MAX_SAMPLES + ", was " + samples);
        }
        long seed = integer(p, "seed", 0);
        return new ExplainOptions(target, steps, method, baseline, gradients, merge, batch, adaptive, explainer, bool(p, "evaluate"),
                contrast == null ? null : String.valueOf(contrast), samples, seed, baselines, (String) text);
    }

    private static int integer(Map<String, Object> p, String key, int fallback) {
        Object v = p.get(key);
        if (v == null) {
            return fallback;
        }
        if (v instanceof Long l && l >= Integer.MIN_VALUE && l <= Integer.MAX_VALUE) {
            return l.intValue();
        }
        if (v instanceof String s && s.matches("-?\\d{1,9}")) {
            return Integer.parseInt(s);
        }
        throw new InvalidInputException(key + " must be an integer, was " + v);
    }

    private static String string(Map<String, Object> p, String key, String fallback) {
        Object v = p.get(key);
        if (v == null) {
            return fallback;
        }
        if (!(v instanceof String s)) {
            throw new InvalidInputException(key + " must be a string, was " + v);
        }
        return s.toLowerCase(Locale.ROOT);
    }

    private static boolean bool(Map<String, Object> p, String key) {
        Object v = p.get(key);
        if (v == null) {
            return false;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        if ("true".equalsIgnoreCase(String.valueOf(v)) || "false".equalsIgnoreCase(String.valueOf(v))) {
            return Boolean.parseBoolean(String.valueOf(v));
        }
        throw new InvalidInputException(key + " must be true or false, was " + v);
    }
}
