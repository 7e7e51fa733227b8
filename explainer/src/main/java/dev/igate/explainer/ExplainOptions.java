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
 */
public record ExplainOptions(String target, int steps, String method, String baseline, String gradients,
                             boolean mergeSubwords, int internalBatchSize, boolean adaptive) {

    public static final int FIRST_ADAPTIVE_STEPS = 16;
    /** |delta| at most this share of |F(x)[t] - F(x')[t]| ends adaptive steps. */
    public static final double DELTA_TOLERANCE = 0.01;

    /** Fixed steps. */
    public ExplainOptions(String target, int steps, String method, String baseline, String gradients,
                          boolean mergeSubwords, int internalBatchSize) {
        this(target, steps, method, baseline, gradients, mergeSubwords, internalBatchSize, false);
    }

    public static final String PAD = "pad";
    public static final String ZEROS = "zeros";

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
        String baseline = string(p, "baseline", PAD);
        if (!baseline.equals(PAD) && !baseline.equals(ZEROS)) {
            throw new InvalidInputException("baseline must be one of [pad, zeros], was " + baseline);
        }
        String gradients = p.containsKey("gradients") ? string(p, "gradients", null) : null;
        if (gradients != null && !gradients.equals(IntegratedGradients.GRAPH) && !gradients.equals(IntegratedGradients.BLACKBOX)) {
            throw new InvalidInputException("gradients must be one of [graph, blackbox], was " + gradients);
        }
        boolean merge = bool(p, "merge_subwords");
        int batch = integer(p, "internal_batch_size", 0);
        if (batch < 0 || batch > 4096) {
            throw new InvalidInputException("internal_batch_size must be between 1 and 4096, was " + batch);
        }
        return new ExplainOptions(target, steps, method, baseline, gradients, merge, batch, adaptive);
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
