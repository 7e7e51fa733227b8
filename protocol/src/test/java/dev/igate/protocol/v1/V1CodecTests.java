package dev.igate.protocol.v1;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;

import dev.igate.protocol.InvalidInputException;
import org.junit.jupiter.api.Test;

class V1CodecTests {

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void stringsAndTextObjectsAreBothInstances() {
        assertThat(V1Codec.decodeTexts(utf8("{\"instances\": [\"a\", {\"text\": \"b\"}]}"))).containsExactly("a", "b");
    }

    @Test
    void instancesMustBeANonEmptyArrayOfTexts() {
        assertThatThrownBy(() -> V1Codec.decodeTexts(utf8("{\"instances\": []}"))).isInstanceOf(InvalidInputException.class);
        assertThatThrownBy(() -> V1Codec.decodeTexts(utf8("{\"instances\": [1]}")))
                .hasMessageContaining("string or an object with a string \"text\"");
        assertThatThrownBy(() -> V1Codec.decodeTexts(utf8("{\"instances\": \"a\"}"))).isInstanceOf(InvalidInputException.class);
    }
}
