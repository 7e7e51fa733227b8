package dev.igate.predictor.onnx;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;

/** Small builders for ONNX protobuf messages, so graph code reads as the graph it makes. */
public final class OnnxProtos {

    private OnnxProtos() {
    }

    /**
     * The names that carry a graph input's values with only their integer type changed: the input
     * itself and, transitively, the outputs of Identity nodes and of Casts to another integer type
     * (exporters cast {@code input_ids} to INT32 before the embedding lookup), each mapped to the
     * node that makes it (null for the input). Where the model checks its vocabulary and where the
     * explainer cuts the lookup out both find the lookup through these names.
     */
    public static Map<String, NodeProto> integerAliases(GraphProto graph, String input) {
        Map<String, NodeProto> aliases = new LinkedHashMap<>();
        aliases.put(input, null);
        for (boolean grew = true; grew; ) {
            grew = false;
            for (NodeProto n : graph.getNodeList()) {
                if (n.getInputCount() == 1 && n.getOutputCount() >= 1 && aliases.containsKey(n.getInput(0))
                        && !aliases.containsKey(n.getOutput(0)) && keepsIntegers(n)) {
                    aliases.put(n.getOutput(0), n);
                    grew = true;
                }
            }
        }
        return aliases;
    }

    /** An Identity, or a Cast to a 32- or 64-bit integer type. */
    private static boolean keepsIntegers(NodeProto n) {
        if (n.getOpType().equals("Identity")) {
            return true;
        }
        if (!n.getOpType().equals("Cast")) {
            return false;
        }
        for (AttributeProto a : n.getAttributeList()) {
            if (a.getName().equals("to")) {
                long to = a.getI();
                return to == TensorProto.DataType.INT32_VALUE || to == TensorProto.DataType.INT64_VALUE
                        || to == TensorProto.DataType.UINT32_VALUE || to == TensorProto.DataType.UINT64_VALUE;
            }
        }
        return false;
    }

    /** Parses a model of any size (protobuf's default 64 MiB limit is lifted). */
    public static ModelProto parse(InputStream in) throws IOException {
        CodedInputStream coded = CodedInputStream.newInstance(in);
        coded.setSizeLimit(Integer.MAX_VALUE);
        return ModelProto.parseFrom(coded);
    }

    /**
     * A model file's bytes as a stream read through the C library. Not a channel's: a channel read
     * into a heap array goes through a temporary direct buffer as large as the read (a word table's
     * 47 MB), counted against -XX:MaxDirectMemorySize and kept per thread.
     */
    public static InputStream open(java.nio.file.Path file) throws IOException {
        return new java.io.FileInputStream(file.toFile());
    }

    /**
     * Writes a model to a file, streamed: no array of the whole model on the heap (the demo
     * builders' 86 MB models did not fit beside their own protos in the README's 192 MB heap).
     */
    public static void write(java.nio.file.Path file, ModelProto model) throws IOException {
        try (java.io.OutputStream out = new java.io.BufferedOutputStream(new java.io.FileOutputStream(file.toFile()), 1 << 16)) {
            model.writeTo(out);
        }
    }

    public static ModelProto parse(byte[] bytes) throws IOException {
        CodedInputStream coded = CodedInputStream.newInstance(bytes);
        coded.setSizeLimit(Integer.MAX_VALUE);
        return ModelProto.parseFrom(coded);
    }

    /**
     * Reads a model file whole: initializers kept as external data (beside the file, as exporters
     * write large models) are read in as raw data, so what is built from the model (the explainer's
     * graphs, run from bytes) and what reads its weights in Java find them. A location outside the
     * model's folder is refused.
     *
     * @throws IOException when the file or an external data file cannot be read, or a location escapes the folder
     */
    public static ModelProto read(java.nio.file.Path file) throws IOException {
        ModelProto model;
        try (InputStream in = open(file)) {
            model = parse(in);
        }
        return withExternalData(model, file.toAbsolutePath().normalize().getParent());
    }

    /**
     * As {@link #read}, the file mapped rather than copied onto the heap: the tensors' bytes are
     * views of the mapping (the file's page cache), so reading the demo model's 86 MB of weights
     * costs the heap nearly nothing. For code that reads a model's weights once and keeps what it
     * makes of them (int8 quantization at load); the file must not change in place while the model
     * is in use (the storage sync replaces files by renaming them).
     */
    public static ModelProto readMapped(java.nio.file.Path file) throws IOException {
        return readMapped(file, file.toAbsolutePath().normalize().getParent());
    }

    /** As {@link #readMapped(java.nio.file.Path)}, initializers kept as external data read from {@code folder} (a copy's original's). */
    public static ModelProto readMapped(java.nio.file.Path file, java.nio.file.Path folder) throws IOException {
        ModelProto model;
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.READ)) {
            if (channel.size() > Integer.MAX_VALUE) {
                return read(file);
            }
            CodedInputStream coded = CodedInputStream.newInstance(channel.map(java.nio.channels.FileChannel.MapMode.READ_ONLY, 0, channel.size()));
            coded.enableAliasing(true);
            coded.setSizeLimit(Integer.MAX_VALUE);
            model = ModelProto.parseFrom(coded);
        }
        return withExternalData(model, folder.toAbsolutePath().normalize());
    }

    /** The model with initializers kept as external data in {@code folder} (the model file's) read in as raw data. */
    private static ModelProto withExternalData(ModelProto model, java.nio.file.Path folder) throws IOException {
        GraphProto graph = model.getGraph();
        if (graph.getInitializerList().stream().noneMatch(t -> t.getDataLocation() == TensorProto.DataLocation.EXTERNAL)) {
            return model;
        }
        GraphProto.Builder inlined = graph.toBuilder();
        for (int i = 0; i < inlined.getInitializerCount(); i++) {
            TensorProto t = inlined.getInitializer(i);
            if (t.getDataLocation() != TensorProto.DataLocation.EXTERNAL) {
                continue;
            }
            Map<String, String> where = new LinkedHashMap<>();
            t.getExternalDataList().forEach(e -> where.put(e.getKey(), e.getValue()));
            java.nio.file.Path data = folder.resolve(where.getOrDefault("location", "")).normalize();
            if (!data.startsWith(folder) || data.equals(folder)) {
                throw new IOException("initializer " + t.getName() + "'s external data " + where.get("location")
                        + " is not in the model's folder");
            }
            long offset = Long.parseLong(where.getOrDefault("offset", "0"));
            long length = where.containsKey("length") ? Long.parseLong(where.get("length"))
                    : java.nio.file.Files.size(data) - offset;
            byte[] bytes = new byte[Math.toIntExact(length)];
            try (java.io.RandomAccessFile in = new java.io.RandomAccessFile(data.toFile(), "r")) {
                in.seek(offset);
                in.readFully(bytes);
            } catch (java.io.EOFException e) {
                throw new IOException("initializer " + t.getName() + "'s external data ends early");
            }
            inlined.setInitializer(i, t.toBuilder().clearExternalData().clearDataLocation().setRawData(ByteString.copyFrom(bytes)).build());
        }
        return model.toBuilder().setGraph(inlined).build();
    }

    public static NodeProto node(String op, String name, List<String> inputs, List<String> outputs,
                                 AttributeProto... attributes) {
        return NodeProto.newBuilder().setOpType(op).setName(name)
                .addAllInput(inputs).addAllOutput(outputs)
                .addAllAttribute(List.of(attributes)).build();
    }

    public static AttributeProto ints(String name, long... values) {
        AttributeProto.Builder b = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long v : values) {
            b.addInts(v);
        }
        return b.build();
    }

    public static AttributeProto intAttr(String name, long value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(value).build();
    }

    public static AttributeProto floatAttr(String name, float value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(value).build();
    }

    public static AttributeProto tensorAttr(String name, TensorProto value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.TENSOR).setT(value).build();
    }

    /** A FLOAT tensor stored as little-endian raw data. */
    public static TensorProto floats(String name, long[] dims, float[] data) {
        ByteBuffer buf = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(data);
        TensorProto.Builder b = TensorProto.newBuilder().setName(name)
                .setDataType(TensorProto.DataType.FLOAT_VALUE).setRawData(ByteString.copyFrom(buf.array()));
        for (long d : dims) {
            b.addDims(d);
        }
        return b.build();
    }

    /** An INT8 or UINT8 tensor ({@code type}) stored as raw bytes, one per element. */
    public static TensorProto bytes(String name, TensorProto.DataType type, long[] dims, byte[] data) {
        TensorProto.Builder b = TensorProto.newBuilder().setName(name).setDataType(type.getNumber())
                .setRawData(ByteString.copyFrom(data));
        for (long d : dims) {
            b.addDims(d);
        }
        return b.build();
    }

    /** An INT64 tensor stored as little-endian raw data. */
    public static TensorProto longs(String name, long[] dims, long[] data) {
        ByteBuffer buf = ByteBuffer.allocate(data.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        buf.asLongBuffer().put(data);
        TensorProto.Builder b = TensorProto.newBuilder().setName(name)
                .setDataType(TensorProto.DataType.INT64_VALUE).setRawData(ByteString.copyFrom(buf.array()));
        for (long d : dims) {
            b.addDims(d);
        }
        return b.build();
    }

    /**
     * A tensor value description; each dimension is a {@code Long} (fixed) or a {@code String}
     * (symbolic, e.g. "batch").
     */
    public static ValueInfoProto tensorValue(String name, TensorProto.DataType type, Object... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (Object d : dims) {
            TensorShapeProto.Dimension.Builder dim = TensorShapeProto.Dimension.newBuilder();
            if (d instanceof Number n) {
                dim.setDimValue(n.longValue());
            } else {
                dim.setDimParam(String.valueOf(d));
            }
            shape.addDim(dim);
        }
        return ValueInfoProto.newBuilder().setName(name)
                .setType(TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder()
                        .setElemType(type.getNumber()).setShape(shape)))
                .build();
    }

    /** A tensor value description with an element type and no shape information. */
    public static ValueInfoProto tensorValueOfAnyShape(String name, TensorProto.DataType type) {
        return ValueInfoProto.newBuilder().setName(name)
                .setType(TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder().setElemType(type.getNumber())))
                .build();
    }

    /** Reads a FLOAT initializer's values, whether stored as raw data or as float_data. */
    public static float[] floatValues(TensorProto t) {
        if (t.getDataType() != TensorProto.DataType.FLOAT_VALUE) {
            throw new IllegalArgumentException(t.getName() + " is not a FLOAT tensor");
        }
        if (!t.getRawData().isEmpty()) {
            ByteBuffer buf = t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            float[] out = new float[buf.remaining() / 4];
            buf.asFloatBuffer().get(out);
            return out;
        }
        float[] out = new float[t.getFloatDataCount()];
        for (int i = 0; i < out.length; i++) {
            out[i] = t.getFloatData(i);
        }
        return out;
    }

    /** Reads an INT64 tensor's values, whether stored as raw data or as int64_data. */
    public static long[] longValues(TensorProto t) {
        if (!t.getRawData().isEmpty()) {
            ByteBuffer buf = t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            long[] out = new long[buf.remaining() / 8];
            buf.asLongBuffer().get(out);
            return out;
        }
        long[] out = new long[t.getInt64DataCount()];
        for (int i = 0; i < out.length; i++) {
            out[i] = t.getInt64Data(i);
        }
        return out;
    }

    /** Reads an INT8 or UINT8 tensor's values as ints (raw data or int32_data), or null for other types. */
    public static int[] byteValues(TensorProto t) {
        boolean signed = t.getDataType() == TensorProto.DataType.INT8_VALUE;
        if (!signed && t.getDataType() != TensorProto.DataType.UINT8_VALUE) {
            return null;
        }
        if (!t.getRawData().isEmpty()) {
            byte[] raw = t.getRawData().toByteArray();
            int[] out = new int[raw.length];
            for (int i = 0; i < raw.length; i++) {
                out[i] = signed ? raw[i] : raw[i] & 0xff;
            }
            return out;
        }
        return t.getInt32DataList().stream().mapToInt(Integer::intValue).toArray();
    }
}
