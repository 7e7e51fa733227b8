package dev.igate.protocol.v2;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import dev.igate.protocol.Datatype;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Tensor;

/**
 * The binary tensor data extension's element encoding: little-endian, row-major, BOOL as one
 * byte, FP16 and BF16 as their 16 bits, and each BYTES element as a 4-byte length then its bytes.
 */
public final class BinaryTensors {

    private BinaryTensors() {
    }

    /**
     * Decodes {@code count} elements from exactly the bytes of {@code data}.
     *
     * @throws InvalidInputException when the byte count does not fit the shape and datatype
     */
    public static Object decode(String name, Datatype type, int count, ByteBuffer data) {
        ByteBuffer b = data.slice().order(ByteOrder.LITTLE_ENDIAN);
        int size = b.remaining();
        if (type != Datatype.BYTES && (long) count * type.byteSize() != size) {
            throw new InvalidInputException("Input " + name + " declares " + size + " bytes of binary data, but " + count
                    + " " + type + " elements take " + (long) count * type.byteSize());
        }
        switch (type) {
            case BOOL -> {
                boolean[] a = new boolean[count];
                for (int i = 0; i < count; i++) {
                    a[i] = b.get(i) != 0;
                }
                return a;
            }
            case INT8, UINT8 -> {
                byte[] a = new byte[count];
                b.get(a);
                return a;
            }
            case INT16, UINT16 -> {
                short[] a = new short[count];
                b.asShortBuffer().get(a);
                return a;
            }
            case INT32, UINT32 -> {
                int[] a = new int[count];
                b.asIntBuffer().get(a);
                return a;
            }
            case INT64, UINT64 -> {
                long[] a = new long[count];
                b.asLongBuffer().get(a);
                if (type == Datatype.UINT64) {
                    for (long v : a) {
                        if (v < 0) {
                            // tensors hold signed longs, as JSON and typed gRPC contents do: above 2^63 - 1 is out of range
                            throw new InvalidInputException("Input " + name + " value " + Long.toUnsignedString(v)
                                    + " is out of range for UINT64");
                        }
                    }
                }
                return a;
            }
            case FP32 -> {
                float[] a = new float[count];
                b.asFloatBuffer().get(a);
                return finite(name, a);
            }
            case FP64 -> {
                double[] a = new double[count];
                b.asDoubleBuffer().get(a);
                for (double v : a) {
                    if (!Double.isFinite(v)) {
                        throw new InvalidInputException("Input " + name + " holds a non-finite number");
                    }
                }
                return a;
            }
            case FP16, BF16 -> {
                float[] a = new float[count];
                for (int i = 0; i < count; i++) {
                    short bits = b.getShort(2 * i);
                    a[i] = type == Datatype.FP16 ? halfToFloat(bits) : Float.intBitsToFloat((bits & 0xFFFF) << 16);
                }
                return finite(name, a);
            }
            case BYTES -> {
                // every element carries at least its 4-byte length: checked before allocating, so a
                // huge shape over a few bytes cannot ask for gigabytes
                if ((long) count * 4 > size) {
                    throw new InvalidInputException("Input " + name + " has " + size + " bytes of BYTES data, too few for "
                            + count + " elements of at least 4 bytes each");
                }
                byte[][] a = new byte[count][];
                for (int i = 0; i < count; i++) {
                    if (b.remaining() < 4) {
                        throw new InvalidInputException("Input " + name + " has binary BYTES data shorter than its " + count + " elements");
                    }
                    int length = b.getInt();
                    if (length < 0 || length > b.remaining()) {
                        throw new InvalidInputException("Input " + name + " has a BYTES element of length " + length
                                + " with " + b.remaining() + " bytes left");
                    }
                    a[i] = new byte[length];
                    b.get(a[i]);
                }
                if (b.hasRemaining()) {
                    throw new InvalidInputException("Input " + name + " has " + b.remaining() + " bytes after its " + count + " BYTES elements");
                }
                return a;
            }
            default -> throw new IllegalStateException(type.name());
        }
    }

    private static float[] finite(String name, float[] a) {
        for (float v : a) {
            if (!Float.isFinite(v)) {
                throw new InvalidInputException("Input " + name + " holds a non-finite number");
            }
        }
        return a;
    }

    /** Encodes a tensor's elements. */
    public static byte[] encode(Tensor t) {
        Object a = t.data();
        int n = t.size();
        if (t.datatype() == Datatype.BYTES) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteBuffer length = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
            for (byte[] element : t.bytes()) {
                length.clear();
                out.writeBytes(length.putInt(element.length).array());
                out.writeBytes(element);
            }
            return out.toByteArray();
        }
        ByteBuffer b = ByteBuffer.allocate(n * t.datatype().byteSize()).order(ByteOrder.LITTLE_ENDIAN);
        switch (t.datatype()) {
            case BOOL -> { for (boolean v : (boolean[]) a) { b.put((byte) (v ? 1 : 0)); } }
            case INT8, UINT8 -> b.put((byte[]) a);
            case INT16, UINT16 -> b.asShortBuffer().put((short[]) a);
            case INT32, UINT32 -> b.asIntBuffer().put((int[]) a);
            case INT64, UINT64 -> b.asLongBuffer().put((long[]) a);
            case FP32 -> b.asFloatBuffer().put((float[]) a);
            case FP64 -> b.asDoubleBuffer().put((double[]) a);
            case FP16 -> { for (float v : (float[]) a) { b.putShort(floatToHalf(v)); } }
            case BF16 -> { for (float v : (float[]) a) { b.putShort(floatToBfloat16(v)); } }
            default -> throw new IllegalStateException(t.datatype().name());
        }
        return b.array();
    }

    /**
     * The nearest bfloat16 (a float's top 16 bits), ties to even, as ONNX Runtime and PyTorch
     * round, where cutting off the low bits would round toward zero. NaN stays NaN.
     */
    static short floatToBfloat16(float value) {
        int f = Float.floatToRawIntBits(value);
        if ((f & 0x7FFFFFFF) > 0x7F800000) {
            return (short) ((f >>> 16) | 0x0040);
        }
        // a carry out of the mantissa moves up the exponent, and past the largest finite value gives infinity
        return (short) ((f + 0x7FFF + ((f >>> 16) & 1)) >>> 16);
    }

    /** An IEEE 754 binary16 value, exactly: every half, subnormals included, is a float; NaN stays NaN. */
    static float halfToFloat(short half) {
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
    static short floatToHalf(float value) {
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
