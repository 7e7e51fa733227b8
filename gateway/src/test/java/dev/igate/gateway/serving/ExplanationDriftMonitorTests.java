package dev.igate.gateway.serving;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ExplanationDriftMonitorTests {

    @Test
    void overlapIsTheShareOfTheTopKWordsByMagnitudeBothExplanationsShare() {
        double[] stable = {0.9, -0.8, 0.1, 0.05, 0.7};
        double[] canary = {0.85, 0.1, -0.75, 0.05, 0.6};

        // top 3 by |importance|: {0, 1, 4} against {0, 2, 4}
        assertThat(dev.igate.explainer.Faithfulness.overlap(stable, canary, 3)).isEqualTo(2.0 / 3);
        assertThat(dev.igate.explainer.Faithfulness.overlap(stable, stable, 3)).isEqualTo(1.0);
        assertThat(dev.igate.explainer.Faithfulness.overlap(stable, canary, 10)).isEqualTo(1.0);
    }
}
