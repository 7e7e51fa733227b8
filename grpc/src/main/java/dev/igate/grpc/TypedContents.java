package dev.igate.grpc;

import java.util.EnumMap;
import java.util.Map;

import com.google.protobuf.ByteString;
import dev.igate.grpc.v2.InferTensorContents;
import dev.igate.protocol.Datatype;
import dev.igate.protocol.Elements;

/**
 * Each datatype's typed contents field of {@code InferTensorContents}, written once: which field
 * holds it, how its values read into a tensor's array (range-checked: the narrow integers travel
 * in 32-bit fields, UINT64 above 2^63 - 1 does not fit the signed longs tensors hold) and how they
 * are written. FP16 and BF16 have no typed field; they travel raw.
 */
abstract class TypedContents {

    private static final Map<Datatype, TypedContents> BY_TYPE = new EnumMap<>(Datatype.class);

    static {
        BY_TYPE.put(Datatype.BOOL, new TypedContents(Datatype.BOOL) {
            int count(InferTensorContents c) {
                return c.getBoolContentsCount();
            }

            Object read(String input, InferTensorContents c, int n) {
                boolean[] a = new boolean[n];
                for (int i = 0; i < n; i++) {
                    a[i] = c.getBoolContents(i);
                }
                return a;
            }

            void write(Object data, InferTensorContents.Builder c) {
                for (boolean v : (boolean[]) data) {
                    c.addBoolContents(v);
                }
            }
        });
        BY_TYPE.put(Datatype.INT8, new TypedContents(Datatype.INT8) {
            int count(InferTensorContents c) {
                return c.getIntContentsCount();
            }

            Object read(String input, InferTensorContents c, int n) {
                byte[] a = new byte[n];
                for (int i = 0; i < n; i++) {
                    a[i] = (byte) ranged(input, c.getIntContents(i), Byte.MIN_VALUE, Byte.MAX_VALUE);
                }
                return a;
            }

            void write(Object data, InferTensorContents.Builder c) {
                for (byte v : (byte[]) data) {
                    c.addIntContents(v);
                }
            }
        });
        BY_TYPE.put(Datatype.UINT8, new TypedContents(Datatype.UINT8) {
            int count(InferTensorContents c) {
                return c.getUintContentsCount();
            }

            Object read(String input, InferTensorContents c, int n) {
                byte[] a = new byte[n];
                for (int i = 0; i < n; i++) {
                    a[i] = (byte) ranged(input, Integer.toUnsignedLong(c.getUintContents(i)), 0, 255);
                }
                return a;
            }

            void write(Object data, InferTensorContents.Builder c) {
                for (byte v : (byte[]) data) {
                    c.addUintContents(v & 0xFF);
                }
            }
        });
        BY_TYPE.put(Datatype.INT16, new TypedContents(Datatype.INT16) {
            int count(InferTensorContents c) {
                return c.getIntContentsCount();
            }

            Object read(String input, InferTensorContents c, int n) {
                short[] a = new short[n];
                for (int i = 0; i < n; i++) {
                    a[i] = (short) ranged(input, c.getIntContents(i), Short.MIN_VALUE, Short.MAX_VALUE);
                }
                return a;
            }

            void write(Object data, InferTensorContents.Builder c) {
                for (short v : (short[]) data) {
                    c.addIntContents(v);
                }
            }
        });
        BY_TYPE.put(Datatype.UINT16, new TypedContents(Datatype.UINT16) {
            int count(InferTensorContents c) {
                return c.getUintContentsCount();
            }

            Object read(String input, InferTensorContents c, int n) {
                short[] a = new short[n];
                for (int i = 0; i < n; i++) {
                    a[i] = (short) ranged(input, Integer.toUnsignedLong(c.getUintContents(i)), 0, 65535);
                }
                return a;
            }

            void write(Object data, InferTensorContents.Builder c) {
                for (short v : (short[]) data) {
                    c.addUintContents(v & 0xFFFF);
                }
            }
        });
        BY_TYPE.put(Datatype.INT32, new TypedContents(Datatype.INT32) {
            int count(InferTensorContents c) {
                return c.getIntContentsCount();
            }

            Object read(String input, InferTensorContents c, int n) {
                int[] a = new int[n];
                for (int i = 0; i < n; i++) {
                    a[i] = c.getIntContents(i);
                }
                return a;
            }

            void write(Object data, InferTensorContents.Builder c) {
                for (int v : (int[]) data) {
                    c.addIntContents(v);
                }
            }
        });
        BY_TYPE.put(Datatype.UINT32, new TypedContents(Datatype.UINT32) {
            int count(InferTensorContents c) {
                return c.getUintContentsCount();
            }

            Object read(String input, InferTensorContents c, int n) {
                int[] a = new int[n];
                for (int i = 0; i < n; i++) {
                    a[i] = c.getUintContents(i);
                }
                return a;
            }

            void write(Object data, InferTensorContents.Builder c) {
                for (int v : (int[]) data) {
                    c.addUintContents(v);
                }
            }
        });
        BY_TYPE.put(Datatype.INT64, new TypedContents(Datatype.INT64) {
            int count(InferTensorContents c) {
                return c.getInt64ContentsCount();
            }

            Object read(String input, InferTensorContents c, int n) {
                long[] a = new long[n];
                for (int i = 0; i < n; i++) {
                    a[i] = c.getInt64Contents(i);
                }
                return a;
            }

            void write(Object data, InferTensorContents.Builder c) {
                for (long v : (long[]) data) {
                    c.addInt64Contents(v);
                }
            }
        });
        BY_TYPE.put(Datatype.UINT64, new TypedContents(Datatype.UINT64) {
            int count(InferTensorContents c) {
                return c.getUint64ContentsCount();
            }

            Object read(String input, InferTensorContents c, int n) {
                long[] a = new long[n];
                for (int i = 0; i < n; i++) {
                    // Java reads a uint64 above 2^63 - 1 as negative: rejected, as tensors hold signed longs (REST alike)
                    a[i] = ranged(input, c.getUint64Contents(i), 0, Long.MAX_VALUE);
                }
                return a;
            }

            void write(Object data, InferTensorContents.Builder c) {
                for (long v : (long[]) data) {
                    c.addUint64Contents(v);
                }
            }
        });
        BY_TYPE.put(Datatype.FP32, new TypedContents(Datatype.FP32) {
            int count(InferTensorContents c) {
                return c.getFp32ContentsCount();
            }

            Object read(String input, InferTensorContents c, int n) {
                float[] a = new float[n];
                for (int i = 0; i < n; i++) {
                    a[i] = (float) finite(input, c.getFp32Contents(i));
                }
                return a;
            }

            void write(Object data, InferTensorContents.Builder c) {
                for (float v : (float[]) data) {
                    c.addFp32Contents(v);
                }
            }
        });
        BY_TYPE.put(Datatype.FP64, new TypedContents(Datatype.FP64) {
            int count(InferTensorContents c) {
                return c.getFp64ContentsCount();
            }

            Object read(String input, InferTensorContents c, int n) {
                double[] a = new double[n];
                for (int i = 0; i < n; i++) {
                    a[i] = finite(input, c.getFp64Contents(i));
                }
                return a;
            }

            void write(Object data, InferTensorContents.Builder c) {
                for (double v : (double[]) data) {
                    c.addFp64Contents(v);
                }
            }
        });
        BY_TYPE.put(Datatype.BYTES, new TypedContents(Datatype.BYTES) {
            int count(InferTensorContents c) {
                return c.getBytesContentsCount();
            }

            Object read(String input, InferTensorContents c, int n) {
                byte[][] a = new byte[n][];
                for (int i = 0; i < n; i++) {
                    a[i] = c.getBytesContents(i).toByteArray();
                }
                return a;
            }

            void write(Object data, InferTensorContents.Builder c) {
                for (byte[] v : (byte[][]) data) {
                    c.addBytesContents(ByteString.copyFrom(v));
                }
            }
        });
    }

    /** The typed contents of a datatype, or null for FP16 and BF16, which have none. */
    static TypedContents of(Datatype type) {
        return BY_TYPE.get(type);
    }

    final Datatype type;

    private TypedContents(Datatype type) {
        this.type = type;
    }

    /** How many values the datatype's field holds. */
    abstract int count(InferTensorContents c);

    /** The field's {@code n} values as a tensor's array. */
    abstract Object read(String input, InferTensorContents c, int n);

    /** Adds a tensor's elements to the datatype's field. */
    abstract void write(Object data, InferTensorContents.Builder c);

    /** {@code v} within [min, max], as the datatype's elements check it. */
    long ranged(String input, long v, long min, long max) {
        return Elements.of(type).inRange(input, v, min, max);
    }

    static double finite(String input, double v) {
        return Elements.finite(input, v);
    }
}
