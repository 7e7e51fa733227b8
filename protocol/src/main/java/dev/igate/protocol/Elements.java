package dev.igate.protocol;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

import tools.jackson.databind.JsonNode;
import tools.jackson.core.JsonGenerator;

/**
 * A datatype's elements, one class per kind: the Java array that holds them in a {@link Tensor}
 * and their wire forms, JSON (V2's {@code data}) and little-endian bytes (the binary tensor data
 * extension, gRPC's raw contents, the response cache's key). What a datatype means on the wire is
 * written here once; gRPC's typed contents and ONNX Runtime's buffers are each written once in
 * their own modules.
 *
 * <p>Decoding checks what the protocol allows: integers in their datatype's range (unsigned ones
 * held in the signed Java type of their width, UINT64 up to 2^63 - 1), finite floating-point
 * numbers, strings for BYTES; a failure is an {@link InvalidInputException} naming the input.
 */
public abstract sealed class Elements {

    private static final Map<Datatype, Elements> BY_TYPE = new EnumMap<>(Datatype.class);

    static {
        BY_TYPE.put(Datatype.BOOL, new Bools());
        BY_TYPE.put(Datatype.INT8, new Bytes(Datatype.INT8, Byte.MIN_VALUE, Byte.MAX_VALUE));
        BY_TYPE.put(Datatype.UINT8, new Bytes(Datatype.UINT8, 0, 255));
        BY_TYPE.put(Datatype.INT16, new Shorts(Datatype.INT16, Short.MIN_VALUE, Short.MAX_VALUE));
        BY_TYPE.put(Datatype.UINT16, new Shorts(Datatype.UINT16, 0, 65535));
        BY_TYPE.put(Datatype.INT32, new Ints(Datatype.INT32, Integer.MIN_VALUE, Integer.MAX_VALUE));
        BY_TYPE.put(Datatype.UINT32, new Ints(Datatype.UINT32, 0, 0xFFFFFFFFL));
        BY_TYPE.put(Datatype.INT64, new Longs(Datatype.INT64, Long.MIN_VALUE));
        BY_TYPE.put(Datatype.UINT64, new Longs(Datatype.UINT64, 0));
        BY_TYPE.put(Datatype.FP16, new Floats(Datatype.FP16));
        BY_TYPE.put(Datatype.BF16, new Floats(Datatype.BF16));
        BY_TYPE.put(Datatype.FP32, new Floats(Datatype.FP32));
        BY_TYPE.put(Datatype.FP64, new Doubles());
        BY_TYPE.put(Datatype.BYTES, new Strings());
    }

    /** The elements of a datatype. */
    public static Elements of(Datatype type) {
        return BY_TYPE.get(type);
    }

    final Datatype type;

    private Elements(Datatype type) {
        this.type = type;
    }

    /** The Java array class that holds the elements. */
    public abstract Class<?> javaType();

    /** {@code n} zero elements (empty strings for BYTES). */
    public abstract Object zeros(int n);

    /**
     * Reads JSON leaves (V2's flattened {@code data}).
     *
     * @throws InvalidInputException for a leaf of another kind, or out of the datatype's range
     */
    public abstract Object fromJson(String input, List<JsonNode> leaves);

    /** Writes the elements as a JSON array, unsigned ones as their unsigned numbers. */
    public void toJson(Object data, JsonGenerator out) {
        out.writeStartArray();
        values(data, out);
        out.writeEndArray();
    }

    /** Writes the elements as JSON values, in the array being written. */
    abstract void values(Object data, JsonGenerator out);

    /**
     * Reads {@code count} elements from little-endian bytes, all of {@code bytes}' remaining ones
     * (their number was checked against the count, except for BYTES, which checks it here).
     *
     * @throws InvalidInputException for values the datatype does not allow
     */
    public abstract Object fromLittleEndian(String input, int count, ByteBuffer bytes);

    /** The elements as little-endian bytes (BYTES: each element's 4-byte length, then its bytes). */
    public abstract byte[] toLittleEndian(Object data);

    /** A buffer for {@code n} elements of a fixed width, little-endian. */
    ByteBuffer buffer(int n) {
        return ByteBuffer.allocate(n * type.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
    }

    InvalidInputException wrong(String input, JsonNode v) {
        String kind = v.isString() ? "a string" : v.isBoolean() ? "a boolean" : v.isNumber() ? "the number " + v
                : v.isObject() ? "an object" : v.isNull() ? "null" : "a " + v.getNodeType();
        return new InvalidInputException("Input " + input + " has datatype " + type + " but holds " + kind);
    }

    /** An integer leaf within [min, max]. */
    long ranged(String input, JsonNode v, long min, long max) {
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw wrong(input, v);
        }
        return inRange(input, v.longValue(), min, max);
    }

    /**
     * {@code x}, when it lies within [min, max], the range this datatype's values take on some wire form.
     *
     * @throws InvalidInputException naming the input and the datatype otherwise
     */
    public long inRange(String input, long x, long min, long max) {
        if (x < min || x > max) {
            throw new InvalidInputException("Input " + input + " value " + x + " is out of range for " + type);
        }
        return x;
    }

    /** A finite number leaf. */
    double real(String input, JsonNode v) {
        if (!v.isNumber()) {
            throw wrong(input, v);
        }
        double d = v.doubleValue();
        return finite(input, d);
    }

    /**
     * {@code d}, when it is finite.
     *
     * @throws InvalidInputException naming the input otherwise
     */
    public static double finite(String input, double d) {
        if (!Double.isFinite(d)) {
            throw new InvalidInputException("Input " + input + " holds a non-finite number");
        }
        return d;
    }

    static final class Bools extends Elements {
        Bools() {
            super(Datatype.BOOL);
        }

        @Override
        public Class<?> javaType() {
            return boolean[].class;
        }

        @Override
        public Object zeros(int n) {
            return new boolean[n];
        }

        @Override
        public Object fromJson(String input, List<JsonNode> leaves) {
            boolean[] a = new boolean[leaves.size()];
            for (int i = 0; i < a.length; i++) {
                JsonNode v = leaves.get(i);
                if (!v.isBoolean()) {
                    throw wrong(input, v);
                }
                a[i] = v.booleanValue();
            }
            return a;
        }

        @Override
        void values(Object data, JsonGenerator out) {
            for (boolean v : (boolean[]) data) {
                out.writeBoolean(v);
            }
        }

        @Override
        public Object fromLittleEndian(String input, int count, ByteBuffer bytes) {
            boolean[] a = new boolean[count];
            for (int i = 0; i < count; i++) {
                a[i] = bytes.get(bytes.position() + i) != 0;
            }
            return a;
        }

        @Override
        public byte[] toLittleEndian(Object data) {
            boolean[] a = (boolean[]) data;
            byte[] out = new byte[a.length];
            for (int i = 0; i < a.length; i++) {
                out[i] = (byte) (a[i] ? 1 : 0);
            }
            return out;
        }
    }

    static final class Bytes extends Elements {
        private final long min;
        private final long max;

        Bytes(Datatype type, long min, long max) {
            super(type);
            this.min = min;
            this.max = max;
        }

        @Override
        public Class<?> javaType() {
            return byte[].class;
        }

        @Override
        public Object zeros(int n) {
            return new byte[n];
        }

        @Override
        public Object fromJson(String input, List<JsonNode> leaves) {
            byte[] a = new byte[leaves.size()];
            for (int i = 0; i < a.length; i++) {
                a[i] = (byte) ranged(input, leaves.get(i), min, max);
            }
            return a;
        }

        @Override
        void values(Object data, JsonGenerator out) {
            for (byte v : (byte[]) data) {
                out.writeNumber(min == 0 ? v & 0xFF : v);
            }
        }

        @Override
        public Object fromLittleEndian(String input, int count, ByteBuffer bytes) {
            byte[] a = new byte[count];
            bytes.get(a);
            return a;
        }

        @Override
        public byte[] toLittleEndian(Object data) {
            return ((byte[]) data).clone();
        }
    }

    static final class Shorts extends Elements {
        private final long min;
        private final long max;

        Shorts(Datatype type, long min, long max) {
            super(type);
            this.min = min;
            this.max = max;
        }

        @Override
        public Class<?> javaType() {
            return short[].class;
        }

        @Override
        public Object zeros(int n) {
            return new short[n];
        }

        @Override
        public Object fromJson(String input, List<JsonNode> leaves) {
            short[] a = new short[leaves.size()];
            for (int i = 0; i < a.length; i++) {
                a[i] = (short) ranged(input, leaves.get(i), min, max);
            }
            return a;
        }

        @Override
        void values(Object data, JsonGenerator out) {
            for (short v : (short[]) data) {
                out.writeNumber(min == 0 ? v & 0xFFFF : v);
            }
        }

        @Override
        public Object fromLittleEndian(String input, int count, ByteBuffer bytes) {
            short[] a = new short[count];
            bytes.asShortBuffer().get(a);
            return a;
        }

        @Override
        public byte[] toLittleEndian(Object data) {
            short[] a = (short[]) data;
            ByteBuffer b = buffer(a.length);
            b.asShortBuffer().put(a);
            return b.array();
        }
    }

    static final class Ints extends Elements {
        private final long min;
        private final long max;

        Ints(Datatype type, long min, long max) {
            super(type);
            this.min = min;
            this.max = max;
        }

        @Override
        public Class<?> javaType() {
            return int[].class;
        }

        @Override
        public Object zeros(int n) {
            return new int[n];
        }

        @Override
        public Object fromJson(String input, List<JsonNode> leaves) {
            int[] a = new int[leaves.size()];
            for (int i = 0; i < a.length; i++) {
                a[i] = (int) ranged(input, leaves.get(i), min, max);
            }
            return a;
        }

        @Override
        void values(Object data, JsonGenerator out) {
            for (int v : (int[]) data) {
                out.writeNumber(min == 0 ? v & 0xFFFFFFFFL : v);
            }
        }

        @Override
        public Object fromLittleEndian(String input, int count, ByteBuffer bytes) {
            int[] a = new int[count];
            bytes.asIntBuffer().get(a);
            return a;
        }

        @Override
        public byte[] toLittleEndian(Object data) {
            int[] a = (int[]) data;
            ByteBuffer b = buffer(a.length);
            b.asIntBuffer().put(a);
            return b.array();
        }
    }

    static final class Longs extends Elements {
        private final long min;

        Longs(Datatype type, long min) {
            super(type);
            this.min = min;
        }

        @Override
        public Class<?> javaType() {
            return long[].class;
        }

        @Override
        public Object zeros(int n) {
            return new long[n];
        }

        @Override
        public Object fromJson(String input, List<JsonNode> leaves) {
            long[] a = new long[leaves.size()];
            for (int i = 0; i < a.length; i++) {
                a[i] = ranged(input, leaves.get(i), min, Long.MAX_VALUE);
            }
            return a;
        }

        @Override
        void values(Object data, JsonGenerator out) {
            for (long v : (long[]) data) {
                out.writeNumber(v);
            }
        }

        @Override
        public Object fromLittleEndian(String input, int count, ByteBuffer bytes) {
            long[] a = new long[count];
            bytes.asLongBuffer().get(a);
            if (min == 0) {
                for (long v : a) {
                    if (v < 0) {
                        // tensors hold signed longs, as JSON and typed gRPC contents do: above 2^63 - 1 is out of range
                        throw new InvalidInputException("Input " + input + " value " + Long.toUnsignedString(v)
                                + " is out of range for " + type);
                    }
                }
            }
            return a;
        }

        @Override
        public byte[] toLittleEndian(Object data) {
            long[] a = (long[]) data;
            ByteBuffer b = buffer(a.length);
            b.asLongBuffer().put(a);
            return b.array();
        }
    }

    /** FP32, and FP16 and BF16 held as floats: their 16 bits on the wire, rounded to nearest even. */
    static final class Floats extends Elements {
        Floats(Datatype type) {
            super(type);
        }

        @Override
        public Class<?> javaType() {
            return float[].class;
        }

        @Override
        public Object zeros(int n) {
            return new float[n];
        }

        @Override
        public Object fromJson(String input, List<JsonNode> leaves) {
            float[] a = new float[leaves.size()];
            for (int i = 0; i < a.length; i++) {
                double d = real(input, leaves.get(i));
                // out of range only when it rounds past the largest float: 3.4028235E38, the largest float as
                // Java prints it (and as answers carry it), is a little above Float.MAX_VALUE as a double
                a[i] = (float) d;
                if (Float.isInfinite(a[i])) {
                    throw new InvalidInputException("Input " + input + " value " + d + " is out of range for " + type);
                }
            }
            return a;
        }

        @Override
        void values(Object data, JsonGenerator out) {
            for (float v : (float[]) data) {
                out.writeNumber(v);
            }
        }

        @Override
        public Object fromLittleEndian(String input, int count, ByteBuffer bytes) {
            float[] a = new float[count];
            if (type == Datatype.FP32) {
                bytes.asFloatBuffer().get(a);
            } else {
                for (int i = 0; i < count; i++) {
                    short bits = bytes.getShort(bytes.position() + 2 * i);
                    a[i] = type == Datatype.FP16 ? HalfFloats.halfToFloat(bits) : HalfFloats.bfloat16ToFloat(bits);
                }
            }
            for (float v : a) {
                finite(input, v);
            }
            return a;
        }

        @Override
        public byte[] toLittleEndian(Object data) {
            float[] a = (float[]) data;
            ByteBuffer b = buffer(a.length);
            if (type == Datatype.FP32) {
                b.asFloatBuffer().put(a);
            } else {
                for (float v : a) {
                    b.putShort(type == Datatype.FP16 ? HalfFloats.floatToHalf(v) : HalfFloats.floatToBfloat16(v));
                }
            }
            return b.array();
        }
    }

    static final class Doubles extends Elements {
        Doubles() {
            super(Datatype.FP64);
        }

        @Override
        public Class<?> javaType() {
            return double[].class;
        }

        @Override
        public Object zeros(int n) {
            return new double[n];
        }

        @Override
        public Object fromJson(String input, List<JsonNode> leaves) {
            double[] a = new double[leaves.size()];
            for (int i = 0; i < a.length; i++) {
                a[i] = real(input, leaves.get(i));
            }
            return a;
        }

        @Override
        void values(Object data, JsonGenerator out) {
            for (double v : (double[]) data) {
                out.writeNumber(v);
            }
        }

        @Override
        public Object fromLittleEndian(String input, int count, ByteBuffer bytes) {
            double[] a = new double[count];
            bytes.asDoubleBuffer().get(a);
            for (double v : a) {
                finite(input, v);
            }
            return a;
        }

        @Override
        public byte[] toLittleEndian(Object data) {
            double[] a = (double[]) data;
            ByteBuffer b = buffer(a.length);
            b.asDoubleBuffer().put(a);
            return b.array();
        }
    }

    /** BYTES: strings in JSON (UTF-8 inside), length-prefixed byte strings in binary. */
    static final class Strings extends Elements {
        Strings() {
            super(Datatype.BYTES);
        }

        @Override
        public Class<?> javaType() {
            return byte[][].class;
        }

        @Override
        public Object zeros(int n) {
            byte[][] empty = new byte[n][];
            java.util.Arrays.fill(empty, new byte[0]);
            return empty;
        }

        @Override
        public Object fromJson(String input, List<JsonNode> leaves) {
            byte[][] a = new byte[leaves.size()][];
            for (int i = 0; i < a.length; i++) {
                JsonNode v = leaves.get(i);
                if (!v.isString()) {
                    throw wrong(input, v);
                }
                a[i] = v.stringValue().getBytes(StandardCharsets.UTF_8);
            }
            return a;
        }

        @Override
        void values(Object data, JsonGenerator out) {
            for (byte[] v : (byte[][]) data) {
                out.writeString(new String(v, StandardCharsets.UTF_8));
            }
        }

        @Override
        public Object fromLittleEndian(String input, int count, ByteBuffer b) {
            int size = b.remaining();
            // every element carries at least its 4-byte length: checked before allocating, so a
            // huge shape over a few bytes cannot ask for gigabytes
            if ((long) count * 4 > size) {
                throw new InvalidInputException("Input " + input + " has " + size + " bytes of BYTES data, too few for "
                        + count + " elements of at least 4 bytes each");
            }
            byte[][] a = new byte[count][];
            for (int i = 0; i < count; i++) {
                if (b.remaining() < 4) {
                    throw new InvalidInputException("Input " + input + " has binary BYTES data shorter than its " + count + " elements");
                }
                int length = b.getInt();
                if (length < 0 || length > b.remaining()) {
                    throw new InvalidInputException("Input " + input + " has a BYTES element of length " + length
                            + " with " + b.remaining() + " bytes left");
                }
                a[i] = new byte[length];
                b.get(a[i]);
            }
            if (b.hasRemaining()) {
                throw new InvalidInputException("Input " + input + " has " + b.remaining() + " bytes after its " + count + " BYTES elements");
            }
            return a;
        }

        @Override
        public byte[] toLittleEndian(Object data) {
            byte[][] a = (byte[][]) data;
            long total = 0;
            for (byte[] element : a) {
                total += 4L + element.length;
            }
            ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(total)).order(ByteOrder.LITTLE_ENDIAN);
            for (byte[] element : a) {
                b.putInt(element.length).put(element);
            }
            return b.array();
        }
    }
}
