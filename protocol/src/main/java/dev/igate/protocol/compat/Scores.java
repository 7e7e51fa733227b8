package dev.igate.protocol.compat;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import dev.igate.protocol.InvalidInputException;

/**
 * A text classifier's logits as the compatibility surfaces answer them: every label with its
 * score, highest first, the score a softmax across the labels, a sigmoid per label, or the logit
 * itself (HuggingFace's {@code function_to_apply}: softmax, sigmoid, none).
 */
public final class Scores {

    /** How logits become scores. */
    public enum Function {
        SOFTMAX, SIGMOID, NONE;

        /** By HuggingFace's name ({@code softmax}, {@code sigmoid}, {@code none}). */
        public static Function of(Object name) {
            if (name instanceof String s) {
                for (Function f : values()) {
                    if (f.name().equalsIgnoreCase(s.trim())) {
                        return f;
                    }
                }
            }
            throw new InvalidInputException("function_to_apply must be softmax, sigmoid or none, was " + name);
        }

        /**
         * What a model's logits take when nobody says, as the text-classification pipeline decides:
         * none for regression, a sigmoid for multi-label models or a single output, else a softmax.
         */
        public static Function defaultFor(String problemType, int width) {
            if ("regression".equals(problemType)) {
                return NONE;
            }
            return "multi_label_classification".equals(problemType) || width == 1 ? SIGMOID : SOFTMAX;
        }
    }

    private Scores() {
    }

    /** Row {@code row} of a {@code [rows, width]} logits matrix as scores. */
    public static double[] apply(float[] logits, int row, int width, Function function) {
        double[] out = new double[width];
        int o = row * width;
        switch (function) {
            case NONE -> {
                for (int c = 0; c < width; c++) {
                    out[c] = logits[o + c];
                }
            }
            case SIGMOID -> {
                for (int c = 0; c < width; c++) {
                    out[c] = 1 / (1 + Math.exp(-logits[o + c]));
                }
            }
            case SOFTMAX -> {
                double max = Double.NEGATIVE_INFINITY;
                for (int c = 0; c < width; c++) {
                    max = Math.max(max, logits[o + c]);
                }
                double sum = 0;
                for (int c = 0; c < width; c++) {
                    out[c] = Math.exp(logits[o + c] - max);
                    sum += out[c];
                }
                for (int c = 0; c < width; c++) {
                    out[c] /= sum;
                }
            }
            default -> throw new IllegalStateException(function.name().toLowerCase(Locale.ROOT));
        }
        return out;
    }

    /**
     * {@code [{"label", "score"}, ...]}, highest score first (equal scores in label order), the first
     * {@code top} only.
     */
    public static List<Map<String, Object>> ranked(List<String> labels, double[] scores, int top, boolean scoreFirst) {
        List<Integer> order = new ArrayList<>();
        for (int c = 0; c < scores.length; c++) {
            order.add(c);
        }
        order.sort(Comparator.comparingDouble((Integer c) -> -scores[c]));
        List<Map<String, Object>> out = new ArrayList<>();
        for (int c : order.subList(0, Math.min(top, order.size()))) {
            Map<String, Object> m = new LinkedHashMap<>();
            if (scoreFirst) {
                m.put("score", (float) scores[c]);
                m.put("label", labels.get(c));
            } else {
                m.put("label", labels.get(c));
                m.put("score", (float) scores[c]);
            }
            out.add(m);
        }
        return out;
    }
}
