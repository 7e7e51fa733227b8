package dev.igate.predictor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

/**
 * A model's lookup tables (the float data of its Gather nodes: word, position and token-type
 * embeddings), held once in direct buffers and handed to each of a version's CPU sessions as
 * initializers, so that the instances' session, the solo session and the explainer read one copy.
 * Each session otherwise keeps its own: the demo model's word table is 47 MB of its 86 (measured:
 * a second session of it 87-98 MB resident, 44-45 MB with the tables shared). Weights that
 * MatMul and Gemm read are not shared: ONNX Runtime packs them per session for its kernels and
 * frees the originals, which a shared buffer would keep alive beside the packed copies.
 *
 * <p>The buffers must outlive every session given them: close this after those sessions.
 */
public final class SharedTables implements AutoCloseable {

    /** Tables smaller than this stay in each session (a position table is 0.8 MB). */
    static final long MIN_BYTES = 1 << 20;

    public static final SharedTables NONE = new SharedTables(Map.of(), Map.of());

    private final Map<String, FloatBuffer> buffers;
    private final Map<String, OnnxTensor> tensors;

    private SharedTables(Map<String, FloatBuffer> buffers, Map<String, OnnxTensor> tensors) {
        this.buffers = buffers;
        this.tensors = tensors;
    }

    /**
     * The tables of a model: FLOAT initializers of {@link #MIN_BYTES} or more, stored in the file
     * (not as external data), that nothing but Gather nodes reads, and those only as their data.
     */
    public static SharedTables of(ModelProto model) throws ModelLoadException {
        Set<String> gathered = new HashSet<>();
        Set<String> otherwise = new HashSet<>();
        for (NodeProto n : model.getGraph().getNodeList()) {
            for (int i = 0; i < n.getInputCount(); i++) {
                (n.getOpType().equals("Gather") && i == 0 ? gathered : otherwise).add(n.getInput(i));
            }
        }
        Map<String, FloatBuffer> buffers = new LinkedHashMap<>();
        Map<String, OnnxTensor> tensors = new LinkedHashMap<>();
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try {
            for (TensorProto t : model.getGraph().getInitializerList()) {
                if (t.getDataType() != TensorProto.DataType.FLOAT_VALUE || !gathered.contains(t.getName())
                        || otherwise.contains(t.getName()) || t.getRawData().size() < MIN_BYTES) {
                    continue;
                }
                ByteBuffer bytes = ByteBuffer.allocateDirect(t.getRawData().size()).order(ByteOrder.nativeOrder());
                // ONNX stores raw data little-endian
                bytes.asFloatBuffer().put(t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer());
                FloatBuffer floats = bytes.asFloatBuffer();
                long[] shape = t.getDimsList().stream().mapToLong(Long::longValue).toArray();
                tensors.put(t.getName(), OnnxTensor.createTensor(env, floats, shape));
                buffers.put(t.getName(), floats);
            }
        } catch (OrtException e) {
            tensors.values().forEach(OnnxTensor::close);
            throw new ModelLoadException("ONNX Runtime could not hold the model's lookup tables: " + e.getMessage(), e);
        }
        return new SharedTables(Map.copyOf(buffers), Map.copyOf(tensors));
    }

    /** Gives the tables to a session about to be created. */
    void addTo(OrtSession.SessionOptions options) throws OrtException {
        for (Map.Entry<String, OnnxTensor> t : tensors.entrySet()) {
            options.addInitializer(t.getKey(), t.getValue());
        }
    }

    /** The values of a shared table, read-only, or null when {@code name} is not one. */
    public FloatBuffer floats(String name) {
        FloatBuffer b = buffers.get(name);
        return b == null ? null : b.asReadOnlyBuffer();
    }

    /** Bytes held once here instead of in each session. */
    public long bytes() {
        return buffers.values().stream().mapToLong(b -> 4L * b.capacity()).sum();
    }

    @Override
    public void close() {
        tensors.values().forEach(OnnxTensor::close);
    }
}
