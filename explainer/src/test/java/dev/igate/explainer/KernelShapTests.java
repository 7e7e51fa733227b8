package dev.igate.explainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;

import org.junit.jupiter.api.Test;

class KernelShapTests {

    @Test
    void anAdditiveModelsValuesAreItsTermsAndTheySumToTheChange() {
        double[] terms = {0.5, -1.25, 2.0, 0.0, 0.75};
        double empty = 0.3;
        Random random = new Random(1);
        boolean[][] coalitions = new boolean[201][5];
        double[] values = new double[201];
        values[0] = empty;
        for (int k = 1; k < coalitions.length; k++) {
            double v = empty;
            for (int w = 0; w < 5; w++) {
                coalitions[k][w] = random.nextBoolean();
                v += coalitions[k][w] ? terms[w] : 0;
            }
            values[k] = v;
        }
        double full = empty + 0.5 - 1.25 + 2.0 + 0.75;

        double[] phi = IntegratedGradients.efficientLeastSquares(coalitions, values, null, 1, full, empty, 5);

        double sum = 0;
        for (int w = 0; w < 5; w++) {
            assertThat(phi[w]).isCloseTo(terms[w], within(1e-4));
            sum += phi[w];
        }
        assertThat(sum).isCloseTo(full - empty, within(1e-12));
    }

    @Test
    void everyCoalitionWeightedByTheKernelGivesTheExactShapleyValuesOfAnInteractingGame() {
        // v(S) = 2 [a in S] + 3 [a and b in S] - [b or c in S] + 0.5 |S|^2 over 4 players: exact values by averaging over every order
        int n = 4;
        java.util.function.ToDoubleFunction<boolean[]> game = s -> {
            int size = 0;
            for (boolean p : s) {
                size += p ? 1 : 0;
            }
            return (s[0] ? 2 : 0) + (s[0] && s[1] ? 3 : 0) - (s[1] || s[2] ? 1 : 0) + 0.5 * size * size;
        };
        double[] exact = new double[n];
        java.util.List<int[]> all = new java.util.ArrayList<>();
        permutations(new int[] {0, 1, 2, 3}, 0, all);
        for (int[] order : all) {
            boolean[] s = new boolean[n];
            for (int player : order) {
                double before = game.applyAsDouble(s);
                s[player] = true;
                exact[player] += (game.applyAsDouble(s) - before) / all.size();
            }
        }
        boolean[][] coalitions = IntegratedGradients.everyCoalition(n);
        double[] values = new double[coalitions.length];
        for (int k = 0; k < coalitions.length; k++) {
            values[k] = game.applyAsDouble(coalitions[k]);
        }
        boolean[] everyone = {true, true, true, true};

        double[] phi = IntegratedGradients.efficientLeastSquares(coalitions, values, IntegratedGradients.shapleyKernel(coalitions, n), 1,
                game.applyAsDouble(everyone), values[0], n);

        assertThat(coalitions.length).isEqualTo(15);
        for (int w = 0; w < n; w++) {
            assertThat(phi[w]).as("player %d", w).isCloseTo(exact[w], within(1e-5));
        }
    }

    private static void permutations(int[] a, int k, java.util.List<int[]> out) {
        if (k == a.length) {
            out.add(a.clone());
            return;
        }
        for (int i = k; i < a.length; i++) {
            int t = a[k];
            a[k] = a[i];
            a[i] = t;
            permutations(a, k + 1, out);
            a[i] = a[k];
            a[k] = t;
        }
    }
}
