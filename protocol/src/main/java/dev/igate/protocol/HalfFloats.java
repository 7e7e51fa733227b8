package dev.igate.protocol;

/**
 * 16-bit floating point: IEEE 754 binary16 (FP16) and bfloat16 (BF16), which tensors hold as
 * floats and the wire carries as their 16 bits.
 */
public final class HalfFloats {

    private HalfFloats() {
    }

    /** A bfloat16's value: its bits are a float's top 16. */
    public static float bfloat16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /**
     * The nearest bfloat16 (a float's top 16 bits), ties to even, as ONNX Runtime and PyTorch
     * round, where cutting off the low bits would round toward zero. NaN stays NaN.
     */
    public static short floatToBfloat16(float value) {
        int f = Float.floatToRawIntBits(value);
        if ((f & 0x7FFFFFFF) > 0x7F800000) {
            return (short) ((f >>> 16) | 0x0040);
        }
        // a carry out of the mantissa moves up the exponent, and past the largest finite value gives infinity
        return (short) ((f + 0x7FFF + ((f >>> 16) & 1)) >>> 16);
    }

    /** An IEEE 754 binary16 value, exactly: every half, subnormals included, is a float; NaN stays NaN. */
    public static float halfToFloat(short half) {
        int h = half & 0xFFFF;
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1F;
        int mantissa = h & 0x3FF;
        if (exponent == 0x1F) {
            // infinity, or NaN with its payload in the float's top mantissa bits
            return Float.intBitsToFloat(sign | 0x7F800000 | (mantissa << 13));
        }
        if (exponent == 0) {
            // zero or subnormal: mantissa × 2^-24, exact in a float
            float magnitude = mantissa * 0x1p-24f;
            return sign == 0 ? magnitude : -magnitude;
        }
        return Float.intBitsToFloat(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
    }

    /**
     * The nearest IEEE 754 binary16 value, ties to even: magnitudes from 65520 up become infinity,
     * those below 2^-14 become subnormals (2^-25 and less round to zero), NaN stays NaN.
     */
    public static short floatToHalf(float value) {
        int f = Float.floatToRawIntBits(value);
        int sign = (f >>> 16) & 0x8000;
        int magnitude = f & 0x7FFFFFFF;
        if (magnitude > 0x7F800000) {
            // keep the payload's top bits; a payload only in the dropped bits would read as infinity, so quiet it
            int payload = (magnitude >>> 13) & 0x3FF;
            return (short) (sign | 0x7C00 | (payload != 0 ? payload : 0x200));
        }
        if (magnitude >= 0x477FF000) {
            // 65520, halfway between the largest half (65504) and 2^16, and above: infinity
            return (short) (sign | 0x7C00);
        }
        if (magnitude >= 0x38800000) {
            // normal half (2^-14 and up): rebias the exponent from 127 to 15, then round off 13 mantissa bits;
            // a carry out of the mantissa correctly moves up the exponent
            int rebiased = magnitude - ((127 - 15) << 23);
            int odd = (rebiased >>> 13) & 1;
            return (short) (sign | ((rebiased + 0xFFF + odd) >>> 13));
        }
        int exponent = magnitude >>> 23;
        if (exponent < 127 - 25) {
            // below 2^-25, under half the smallest subnormal
            return (short) sign;
        }
        // subnormal half: the value in units of 2^-24 is the full significand shifted right by 126 - exponent
        // (14 to 24 places), rounded to nearest even; rounding up from the largest subnormal gives 2^-14, the
        // smallest normal, whose bits follow on
        int significand = (magnitude & 0x7FFFFF) | 0x800000;
        int shift = 126 - exponent;
        int units = significand >>> shift;
        int rest = significand & ((1 << shift) - 1);
        int halfway = 1 << (shift - 1);
        if (rest > halfway || (rest == halfway && (units & 1) != 0)) {
            units++;
        }
        return (short) (sign | units);
    }
}
