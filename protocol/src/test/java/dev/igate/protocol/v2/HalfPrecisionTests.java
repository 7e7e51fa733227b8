package dev.igate.protocol.v2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.igate.protocol.Datatype;
import dev.igate.protocol.Tensor;
import org.junit.jupiter.api.Test;

/** FP16 conversions of the binary tensor encoding, against IEEE 754 binary16, for every half there is. */
class HalfPrecisionTests {

    /** A half's value from its definition: (-1)^sign × mantissa × 2^-24 when subnormal, else (1024 + mantissa) × 2^(exponent - 25). */
    static double definedValue(int bits) {
        int exponent = (bits >>> 10) & 0x1F;
        int mantissa = bits & 0x3FF;
        double magnitude = exponent == 0 ? Math.scalb((double) mantissa, -24) : Math.scalb((double) (1024 + mantissa), exponent - 25);
        return (bits & 0x8000) != 0 ? -magnitude : magnitude;
    }

    static boolean isNaN(int bits) {
        return (bits & 0x7C00) == 0x7C00 && (bits & 0x3FF) != 0;
    }

    static int half(float value) {
        return dev.igate.protocol.HalfFloats.floatToHalf(value) & 0xFFFF;
    }

    @Test
    void everyHalfDecodesToItsExactValueAndEncodesBackToItsOwnBits() {
        for (int bits = 0; bits < 0x10000; bits++) {
            float decoded = dev.igate.protocol.HalfFloats.halfToFloat((short) bits);

            if (isNaN(bits)) {
                assertThat(decoded).as("half %04x", bits).isNaN();
                assertThat(isNaN(half(decoded))).as("half %04x back", bits).isTrue();
                assertThat(half(decoded) & 0x8000).as("sign of half %04x", bits).isEqualTo(bits & 0x8000);
            } else if ((bits & 0x7FFF) == 0x7C00) {
                assertThat(decoded).as("half %04x", bits).isEqualTo((bits & 0x8000) == 0 ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY);
                assertThat(half(decoded)).as("half %04x back", bits).isEqualTo(bits);
            } else {
                assertThat((double) decoded).as("half %04x", bits).isEqualTo(definedValue(bits));
                assertThat(Float.floatToRawIntBits(decoded) >>> 31).as("sign of half %04x", bits).isEqualTo(bits >>> 15);
                assertThat(half(decoded)).as("half %04x back", bits).isEqualTo(bits);
            }
        }
    }

    @Test
    void floatsBetweenTwoHalvesRoundToTheNearestAndTiesToTheEvenOne() {
        for (int sign : new int[] {0, 0x8000}) {
            for (int bits = 0; bits < 0x7C00; bits++) {
                int next = bits + 1;
                // the largest half's upper neighbour is 2^16, which is out of range: it rounds to infinity, bits 7C00
                double upper = next == 0x7C00 ? 65536 : definedValue(next);
                double lower = definedValue(bits);
                float midpoint = (float) ((lower + upper) / 2);
                float direction = sign == 0 ? 1 : -1;

                assertThat(half(direction * midpoint)).as("midpoint above %04x", sign | bits).isEqualTo(sign | ((bits & 1) == 0 ? bits : next));
                assertThat(half(direction * Math.nextDown(midpoint))).as("just below the midpoint above %04x", sign | bits).isEqualTo(sign | bits);
                assertThat(half(direction * Math.nextUp(midpoint))).as("just above the midpoint above %04x", sign | bits).isEqualTo(sign | next);
            }
        }
    }

    @Test
    void edgeValuesKeepTheirMeaning() {
        assertThat(half(0x1p-24f)).as("smallest subnormal").isEqualTo(0x0001);
        assertThat(dev.igate.protocol.HalfFloats.halfToFloat((short) 0x0001)).isEqualTo(0x1p-24f);
        assertThat(half(1023 * 0x1p-24f)).as("largest subnormal").isEqualTo(0x03FF);
        assertThat(dev.igate.protocol.HalfFloats.halfToFloat((short) 0x03FF)).isEqualTo(1023 * 0x1p-24f);
        assertThat(half(0x1p-14f)).as("smallest normal").isEqualTo(0x0400);
        assertThat(half(0x1p-25f)).as("half the smallest subnormal ties to zero").isZero();
        assertThat(half(Float.MIN_VALUE)).isZero();
        assertThat(half(65504f)).as("largest half").isEqualTo(0x7BFF);
        assertThat(half(Math.nextDown(65520f))).isEqualTo(0x7BFF);
        assertThat(half(65520f)).as("overflows").isEqualTo(0x7C00);
        assertThat(half(-1e10f)).isEqualTo(0xFC00);
        assertThat(half(Float.POSITIVE_INFINITY)).isEqualTo(0x7C00);
        assertThat(half(-0.0f)).isEqualTo(0x8000);
        assertThat(dev.igate.protocol.HalfFloats.halfToFloat((short) 0x8000)).isEqualTo(-0.0f);
        assertThat(isNaN(half(Float.NaN))).isTrue();
        assertThat(isNaN(half(Float.intBitsToFloat(0x7F800001)))).as("a NaN whose payload is in bits a half drops").isTrue();
        assertThat(dev.igate.protocol.HalfFloats.halfToFloat((short) 0x7E00)).isNaN();
        assertThat(half(1.0009765625f)).as("1 + 2^-10").isEqualTo(0x3C01);
        assertThat(half(1.00048828125f)).as("1 + 2^-11 ties to even 1").isEqualTo(0x3C00);
    }

    @Test
    void fp16TensorsEncodeSubnormalsOverflowAndNaN() {
        Tensor t = new Tensor("y", Datatype.FP16, new long[] {3}, new float[] {0x1p-24f, 65520f, Float.NaN});

        byte[] bytes = BinaryTensors.encode(t);

        assertThat(bytes).hasSize(6);
        assertThat(bytes[0]).isEqualTo((byte) 0x01);
        assertThat(bytes[1]).isEqualTo((byte) 0x00);
        assertThat(bytes[2]).isEqualTo((byte) 0x00);
        assertThat(bytes[3]).isEqualTo((byte) 0x7C);
        assertThat(isNaN((bytes[4] & 0xFF) | (bytes[5] & 0xFF) << 8)).isTrue();
    }
}
