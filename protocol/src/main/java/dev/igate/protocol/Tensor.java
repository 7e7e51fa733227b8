package dev.igate.protocol;

import java.lang.reflect.Array;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A named, typed, row-major tensor: the one tensor type every stage exchanges.
 *
 * <p>The data array's Java type follows the datatype: {@code boolean[]} for BOOL,
 * {@code byte[]} for INT8/UINT8, {@code short[]} for INT16/UINT16, {@code int[]} for
 * INT32/UINT32, {@code long[]} for INT64/UINT64, {@code float[]} for FP16/BF16/FP32,
 * {@code double[]} for FP64 and {@code byte[][]} for BYTES. A shape of {@code []} is a scalar.
 *
 * @throws InvalidInputException from the constructor when the data length disagrees with the shape
 */
public record Tensor(String name, Datatype datatype, long[] shape, Object data) {

    public Tensor {
        long expected = elementCount(shape);
        int actual = Array.getLength(data);
        if (expected != actual) {
            throw new InvalidInputException("Tensor " + name + " has shape " + Arrays.toString(shape)
                    + " (" + expected + " elements) but " + actual + " data elements");
        }
        Class<?> want = javaType(datatype);
        if (!want.isInstance(data)) {
            throw new IllegalArgumentException(datatype + " data must be " + want.getSimpleName());
        }
    }

    public static Tensor ofLongs(String name, long[] shape, long[] data) {
        return new Tensor(name, Datatype.INT64, shape, data);
    }

    public static Tensor ofFloats(String name, long[] shape, float[] data) {
        return new Tensor(name, Datatype.FP32, shape, data);
    }

    public static Tensor ofStrings(String name, long[] shape, String... values) {
        byte[][] bytes = new byte[values.length][];
        for (int i = 0; i < values.length; i++) {
            bytes[i] = values[i].getBytes(StandardCharsets.UTF_8);
        }
        return new Tensor(name, Datatype.BYTES, shape, bytes);
    }

    /**
     * Number of elements a tensor of this shape holds: the product of its dimensions.
     *
     * @throws InvalidInputException for a negative dimension or a product past {@code Long.MAX_VALUE}
     */
    public static long elementCount(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new InvalidInputException("Shape " + Arrays.toString(shape) + " has a negative dimension");
            }
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException overflow) {
                throw new InvalidInputException("Shape " + Arrays.toString(shape) + " holds more elements than a tensor can");
            }
        }
        return n;
    }

    /** The Java array class that holds elements of the given datatype. */
    public static Class<?> javaType(Datatype datatype) {
        return Elements.of(datatype).javaType();
    }

    public int size() {
        return Array.getLength(data);
    }

    /** The bytes of the tensor's data: each BYTES element's length, or elements x the datatype's width. */
    public long byteSize() {
        if (data instanceof byte[][] elements) {
            long n = 0;
            for (byte[] e : elements) {
                n += e.length;
            }
            return n;
        }
        return (long) size() * datatype.byteSize();
    }

    public long[] longs() {
        return (long[]) data;
    }

    public float[] floats() {
        return (float[]) data;
    }

    public byte[][] bytes() {
        return (byte[][]) data;
    }

    /** BYTES elements decoded as UTF-8 strings. */
    public String[] strings() {
        byte[][] b = bytes();
        String[] s = new String[b.length];
        for (int i = 0; i < b.length; i++) {
            s[i] = new String(b[i], StandardCharsets.UTF_8);
        }
        return s;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Tensor t && name.equals(t.name) && datatype == t.datatype
                && Arrays.equals(shape, t.shape) && Arrays.deepEquals(new Object[] {data}, new Object[] {t.data});
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return "Tensor[" + name + ", " + datatype + ", " + Arrays.toString(shape) + "]";
    }
}
