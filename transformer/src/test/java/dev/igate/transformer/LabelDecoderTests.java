package dev.igate.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.List;

import org.junit.jupiter.api.Test;

class LabelDecoderTests {

    final LabelDecoder decoder = new LabelDecoder(List.of("a", "b", "c"));

    @Test
    void eachRowGetsItsArgmaxLabelAndSoftmaxProbabilities() {
        List<Prediction> p = decoder.decode(Outputs.matrix(2, 0, 0, 1000, 3, 1, 2), Outputs.texts(2));

        assertThat(p.get(0).label()).isEqualTo("c");
        assertThat(p.get(0).scores()[2]).isEqualTo(1f);
        assertThat(p.get(1).label()).isEqualTo("a");
        float sum = p.get(1).scores()[0] + p.get(1).scores()[1] + p.get(1).scores()[2];
        assertThat(sum).isCloseTo(1f, within(1e-6f));
        assertThat(p.get(1).scores()[0]).isCloseTo((float) (Math.exp(3) / (Math.exp(3) + Math.exp(1) + Math.exp(2))), within(1e-6f));
    }

    @Test
    void logitsWidthMustMatchTheLabels() {
        assertThatThrownBy(() -> decoder.decode(Outputs.matrix(2, new float[4]), Outputs.texts(2))).hasMessageContaining("expected [2, 3]");
    }
}
