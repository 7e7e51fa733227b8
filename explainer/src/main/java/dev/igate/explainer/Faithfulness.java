package dev.igate.explainer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

import dev.igate.predictor.batching.InstanceScheduler;
import dev.igate.protocol.Explanation;

/**
 * Whether an explanation is faithful to the model, measured as ERASER does (DeYoung et al., 2020):
 * comprehensiveness, the target's probability drop when the top-k% words are removed from the
 * text, and sufficiency, the drop when only they are kept, each averaged over k in
 * {@link #FRACTIONS} (AOPC); and the Spearman rank correlation between the words' attributions and
 * their leave-one-out drops. Removing a word drops its tokens from the sequence (special tokens
 * stay), as ERASER removes tokens; the probability is the softmax of the class logits, or for an
 * objective that is no class (an entity) the objective's value.
 */
public final class Faithfulness {

    /** ERASER's bins: the top 1, 5, 10, 20 and 50% of the words. */
    static final double[] FRACTIONS = {0.01, 0.05, 0.10, 0.20, 0.50};

    private Faithfulness() {
    }

    /**
     * @param groups     each token's word, -1 for special tokens (as occlusion numbers them)
     * @param tokenScores the explanation's attribution per token
     */
    static Explanation.Faithfulness evaluate(IntegratedGradients ig, IntegratedGradients.Sample sample, Objective objective,
                                             int[] groups, double[] tokenScores, InstanceScheduler via) {
        int words = 0;
        for (int g : groups) {
            words = Math.max(words, g + 1);
        }
        double[] wordScores = new double[words];
        for (int i = 0; i < groups.length; i++) {
            if (groups[i] >= 0) {
                wordScores[groups[i]] += tokenScores[i];
            }
        }
        Integer[] ranked = new Integer[words];
        for (int w = 0; w < words; w++) {
            ranked[w] = w;
        }
        Arrays.sort(ranked, Comparator.comparingDouble((Integer w) -> -wordScores[w]));
        double full = score(ig.forward(sample.ids(), sample.mask(), sample.types(), via), objective);
        int evaluations = 1;
        double comprehensiveness = 0;
        double sufficiency = 0;
        for (double fraction : FRACTIONS) {
            int n = Math.max(1, (int) Math.round(fraction * words));
            boolean[] top = new boolean[words];
            for (int k = 0; k < Math.min(n, words); k++) {
                top[ranked[k]] = true;
            }
            comprehensiveness += full - score(ig, sample, groups, w -> !top[w], objective, via);
            sufficiency += full - score(ig, sample, groups, w -> top[w], objective, via);
            evaluations += 2;
        }
        double[] drops = new double[words];
        for (int w = 0; w < words; w++) {
            int left = w;
            drops[w] = full - score(ig, sample, groups, v -> v != left, objective, via);
            evaluations++;
        }
        return new Explanation.Faithfulness(comprehensiveness / FRACTIONS.length, sufficiency / FRACTIONS.length,
                spearman(wordScores, drops), evaluations);
    }

    /** The objective on the text keeping only the words {@code keep} accepts (special tokens always). */
    private static double score(IntegratedGradients ig, IntegratedGradients.Sample sample, int[] groups,
                                java.util.function.IntPredicate keep, Objective objective, InstanceScheduler via) {
        List<Integer> kept = new ArrayList<>();
        for (int i = 0; i < groups.length; i++) {
            if (groups[i] < 0 || keep.test(groups[i])) {
                kept.add(i);
            }
        }
        long[] ids = new long[kept.size()];
        long[] mask = new long[kept.size()];
        long[] types = new long[kept.size()];
        for (int k = 0; k < ids.length; k++) {
            ids[k] = sample.ids()[kept.get(k)];
            mask[k] = sample.mask()[kept.get(k)];
            types[k] = sample.types()[kept.get(k)];
        }
        if (objective.weighted()) {
            // an entity's weights are per token of the full text: the kept tokens' share of them
            float[] weights = new float[ids.length * (objective.weights().length / groups.length)];
            int width = objective.weights().length / groups.length;
            for (int k = 0; k < ids.length; k++) {
                System.arraycopy(objective.weights(), kept.get(k) * width, weights, k * width, width);
            }
            return Objective.ofWeights(weights).value(ig.forward(ids, mask, types, via), 0);
        }
        return score(ig.forward(ids, mask, types, via), objective);
    }

    /** The target class's softmax probability, or a weighted objective's value. */
    private static double score(float[] outputs, Objective objective) {
        if (objective.weighted()) {
            return objective.value(outputs, 0);
        }
        double max = Double.NEGATIVE_INFINITY;
        for (float v : outputs) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (float v : outputs) {
            sum += Math.exp(v - max);
        }
        return Math.exp(outputs[objective.target()] - max) / sum;
    }

    /**
     * The share of the top-k words (by |importance|) two explanations of the same words have in
     * common: 1 when they rank the same words first. What the stable-vs-canary drift compares.
     */
    public static double overlap(double[] a, double[] b, int k) {
        java.util.Set<Integer> top = top(a, k);
        int common = 0;
        for (int i : top(b, k)) {
            common += top.contains(i) ? 1 : 0;
        }
        return top.isEmpty() ? 1 : (double) common / top.size();
    }

    private static java.util.Set<Integer> top(double[] v, int k) {
        Integer[] order = new Integer[v.length];
        for (int i = 0; i < v.length; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (x, y) -> Double.compare(Math.abs(v[y]), Math.abs(v[x])));
        return new java.util.HashSet<>(java.util.List.of(order).subList(0, Math.min(k, v.length)));
    }

    /** Spearman's rank correlation (average ranks for ties); NaN for fewer than two words. */
    public static double spearman(double[] a, double[] b) {
        if (a.length < 2) {
            return Double.NaN;
        }
        double[] ra = ranks(a);
        double[] rb = ranks(b);
        double ma = Arrays.stream(ra).average().orElse(0);
        double mb = Arrays.stream(rb).average().orElse(0);
        double cov = 0;
        double va = 0;
        double vb = 0;
        for (int i = 0; i < a.length; i++) {
            cov += (ra[i] - ma) * (rb[i] - mb);
            va += (ra[i] - ma) * (ra[i] - ma);
            vb += (rb[i] - mb) * (rb[i] - mb);
        }
        return va == 0 || vb == 0 ? 0 : cov / Math.sqrt(va * vb);
    }

    private static double[] ranks(double[] v) {
        Integer[] order = new Integer[v.length];
        for (int i = 0; i < v.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, Comparator.comparingDouble(i -> v[i]));
        double[] ranks = new double[v.length];
        for (int i = 0; i < v.length; ) {
            int j = i;
            while (j + 1 < v.length && v[order[j + 1]] == v[order[i]]) {
                j++;
            }
            for (int k = i; k <= j; k++) {
                ranks[order[k]] = (i + j) / 2.0;
            }
            i = j + 1;
        }
        return ranks;
    }
}
