package dev.igate.explainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class QuadratureTests {

    static double integrate(Quadrature q, java.util.function.DoubleUnaryOperator f) {
        double s = 0;
        for (int i = 0; i < q.alphas().length; i++) {
            s += q.weights()[i] * f.applyAsDouble(q.alphas()[i]);
        }
        return s;
    }

    @Test
    void gaussLegendreIsExactForPolynomialsUpToDegree2nMinus1() {
        Quadrature q = Quadrature.of("gausslegendre", 5);

        assertThat(integrate(q, a -> 1)).isCloseTo(1, within(1e-12));
        assertThat(integrate(q, a -> Math.pow(a, 9))).isCloseTo(0.1, within(1e-12));
        assertThat(q.alphas()).isSorted();
    }

    @Test
    void gaussLegendreWithFiftyStepsMatchesKnownNodes() {
        Quadrature q = Quadrature.of("gausslegendre", 50);

        // first node of the 50-point rule on [-1, 1] is -0.9988664044200710501854594
        assertThat(q.alphas()[0]).isCloseTo((1 - 0.9988664044200710501854594) / 2, within(1e-14));
        assertThat(integrate(q, Math::exp)).isCloseTo(Math.E - 1, within(1e-13));
    }

    @Test
    void trapezoidHasHalfWeightsAtTheEnds() {
        Quadrature q = Quadrature.of("riemann_trapezoid", 5);

        assertThat(q.alphas()).containsExactly(0, 0.25, 0.5, 0.75, 1);
        assertThat(q.weights()).containsExactly(0.125, 0.25, 0.25, 0.25, 0.125);
    }

    @Test
    void unknownMethodIsRejected() {
        assertThatThrownBy(() -> Quadrature.of("simpson", 5)).hasMessageContaining("expected one of [gausslegendre, riemann_trapezoid]");
    }
}
