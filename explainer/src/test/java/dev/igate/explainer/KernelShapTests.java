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

        double[] phi = IntegratedGradients.efficientLeastSquares(coalitions, values, 1, full, empty, 5);

        double sum = 0;
        for (int w = 0; w < 5; w++) {
            assertThat(phi[w]).isCloseTo(terms[w], within(1e-4));
            sum += phi[w];
        }
        assertThat(sum).isCloseTo(full - empty, within(1e-12));
    }
}
