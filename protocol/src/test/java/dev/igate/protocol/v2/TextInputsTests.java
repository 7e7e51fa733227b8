package dev.igate.protocol.v2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Tensor;
import org.junit.jupiter.api.Test;

class TextInputsTests {

    @Test
    void plainTextAndWrappedTextAreBothRead() {
        Tensor t = Tensor.ofStrings("t", new long[] {3}, "plain", "{\"text\": \"wrapped\"}", "{not json}");

        assertThat(TextInputs.texts(t)).containsExactly("plain", "wrapped", "{not json}");
    }

    @Test
    void wrappedDocumentWithoutTextIsRejected() {
        Tensor t = Tensor.ofStrings("t", new long[] {1}, "{\"body\": \"x\"}");

        assertThatThrownBy(() -> TextInputs.texts(t)).isInstanceOf(InvalidInputException.class)
                .hasMessageContaining("without a string \"text\"");
    }

    @Test
    void nonBytesInputIsRejected() {
        Tensor t = Tensor.ofLongs("ids", new long[] {1}, new long[] {1});

        assertThatThrownBy(() -> TextInputs.texts(t)).hasMessageContaining("must be BYTES");
    }
}
