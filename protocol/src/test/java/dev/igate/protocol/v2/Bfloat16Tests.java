package dev.igate.protocol.v2;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;

import dev.igate.protocol.Datatype;
import dev.igate.protocol.Tensor;
import org.junit.jupiter.api.Test;

/** BF16 encoding of the binary tensor data: round to nearest even, NaN stays NaN, for every bfloat16 there is. */
class Bfloat16Tests {

    static float bfloat16ToFloat(int bits) {
        return Float.intBitsToFloat(bits << 16);
    }

    static int encode(float value) {
        return dev.igate.protocol.HalfFloats.floatToBfloat16(value) & 0xFFFF;
    }

    static boolean isNaN(int bits) {
        return (bits & 0x7F80) == 0x7F80 && (bits & 0x7F) != 0;
    }

    @Test
    void everyBfloat16EncodesBackToItsOwnBits() {
        for (int bits = 0; bits < 0x10000; bits++) {
            if (isNaN(bits)) {
                assertThat(isNaN(encode(bfloat16ToFloat(bits)))).as("bfloat16 %04x", bits).isTrue();
            } else {
                assertThat(encode(bfloat16ToFloat(bits))).as("bfloat16 %04x", bits).isEqualTo(bits);
            }
        }
    }

    @Test
    void floatsBetweenTwoBfloat16sRoundToTheNearestAndTiesToTheEvenOne() {
        for (int sign : new int[] {0, 0x8000}) {
            for (int bits = 0; bits < 0x7F80; bits++) {
                // the halfway float has the lower neighbour's top bits and only bit 15 set below them
                int midpoint = ((sign | bits) << 16) | 0x8000;
                int nearer = (bits & 1) == 0 ? bits : bits + 1;

                assertThat(encode(Float.intBitsToFloat(midpoint))).as("midpoint above %04x", sign | bits).isEqualTo(sign | nearer);
                assertThat(encode(Float.intBitsToFloat(midpoint - 1))).as("just below it").isEqualTo(sign | bits);
                assertThat(encode(Float.intBitsToFloat(midpoint + 1))).as("just above it").isEqualTo(sign | (bits + 1));
            }
        }
    }

    @Test
    void nanWithItsPayloadInTheLowBitsStaysNaNAndLargeFloatsOverflow() {
        assertThat(isNaN(encode(Float.intBitsToFloat(0x7F800001)))).isTrue();
        assertThat(isNaN(encode(Float.NaN))).isTrue();
        assertThat(encode(Float.MAX_VALUE)).isEqualTo(0x7F80);
        assertThat(encode(-Float.MAX_VALUE)).isEqualTo(0xFF80);
        assertThat(encode(1 + 0x1p-8f)).as("1 + 2^-8 ties to even 1").isEqualTo(0x3F80);
        assertThat(encode(1 + 0x1p-8f + 0x1p-23f)).isEqualTo(0x3F81);
    }

    @Test
    void bf16TensorsRoundTripThroughTheBinaryEncoding() {
        Tensor t = new Tensor("y", Datatype.BF16, new long[] {2}, new float[] {1 + 0x1p-7f, -3.5f});

        Object decoded = BinaryTensors.decode("y", Datatype.BF16, 2, ByteBuffer.wrap(BinaryTensors.encode(t)));

        assertThat((float[]) decoded).containsExactly(1 + 0x1p-7f, -3.5f);
    }
}
