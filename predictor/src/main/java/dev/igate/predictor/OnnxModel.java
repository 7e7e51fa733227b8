package dev.igate.predictor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.ShortBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import ai.onnxruntime.platform.Fp16Conversions;
import dev.igate.protocol.Datatype;
import dev.igate.protocol.InferenceFailedException;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Tensor;
import dev.igate.protocol.TensorMetadata;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One ONNX Runtime session: the model's tensors, the execution provider it runs on, and a
 * {@link #run} that checks inputs against the session before they reach native code.
 *
 * <p>{@link #run} blocks for the length of the inference: call it from a worker thread, never an
 * event loop. A session may be run from several threads at once.
 */
public final class OnnxModel implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(OnnxModel.class);
    private static final AtomicBoolean cpuFallbackLogged = new AtomicBoolean();

    private final OrtEnvironment env;
    private final OrtSession session;
    private final ExecutionProvider provider;
    private final List<TensorMetadata> inputs;
    private final List<TensorMetadata> outputs;
    private final Map<String, TensorMetadata> inputsByName = new LinkedHashMap<>();

    private OnnxModel(OrtEnvironment env, OrtSession session, ExecutionProvider provider) throws OrtException {
        this.env = env;
        this.session = session;
        this.provider = provider;
        this.inputs = describe(session.getInputInfo());
        this.outputs = describe(session.getOutputInfo());
        inputs.forEach(t -> inputsByName.put(t.name(), t));
    }

    /**
     * Loads {@code model.onnx} from disk. Blocking.
     *
     * @throws ModelLoadException when ONNX Runtime rejects the file
     */
    public static OnnxModel load(Path file, SessionSettings settings) throws ModelLoadException {
        return load(file, settings, SharedTables.NONE);
    }

    /**
     * Loads {@code model.onnx} from disk, its lookup tables read from {@code tables} (which must
     * outlive the session) instead of held by the session. Blocking.
     *
     * @throws ModelLoadException when ONNX Runtime rejects the file
     */
    public static OnnxModel load(Path file, SessionSettings settings, SharedTables tables) throws ModelLoadException {
        if (!Files.isRegularFile(file)) {
            throw new ModelLoadException("model file " + file.getFileName() + " is missing");
        }
        return open(settings, file.getFileName().toString(), (env, options) -> {
            tables.addTo(options);
            return env.createSession(file.toString(), options);
        });
    }

    /**
     * Loads a model built in Java, through a temporary file: the session reads the file, and no
     * serialized copy of the model is made on the heap. Blocking.
     *
     * @throws ModelLoadException when ONNX Runtime rejects the model or the file cannot be written
     */
    public static OnnxModel load(ai.onnx.proto.OnnxMl.ModelProto model, SessionSettings settings, String description)
            throws ModelLoadException {
        return throughFile(model, description, file -> load(file, settings, description));
    }

    /** Loads a model file under a description of its own (a graph built in Java, say). Blocking. */
    public static OnnxModel load(Path file, SessionSettings settings, String description) throws ModelLoadException {
        return open(settings, description, (env, options) -> env.createSession(file.toString(), options));
    }

    /** What is done with a model's temporary file: sessions opened from it. */
    public interface FileUse<T> {
        T apply(Path file) throws ModelLoadException;
    }

    /**
     * Writes a model built in Java to a temporary file (streamed: no serialized copy of it on the
     * heap), hands the file to {@code use} (which may open any number of sessions from it), and
     * deletes it. Blocking.
     *
     * @throws ModelLoadException when {@code use} fails or the file cannot be written
     */
    public static <T> T throughFile(ai.onnx.proto.OnnxMl.ModelProto model, String description, FileUse<T> use) throws ModelLoadException {
        Path file = null;
        try {
            file = Files.createTempFile("igate-model-", ".onnx");
            dev.igate.predictor.onnx.OnnxProtos.write(file, model);
            return use.apply(file);
        } catch (java.io.IOException e) {
            throw new ModelLoadException("could not write " + description + " for ONNX Runtime: " + e.getMessage(), e);
        } finally {
            deleteQuietly(file);
        }
    }

    private static void deleteQuietly(Path file) {
        if (file != null) {
            try {
                Files.deleteIfExists(file);
            } catch (java.io.IOException ignored) {
                // a temporary file left behind is harmless
            }
        }
    }

    /** Loads a model held in memory, such as a graph the explainer built. Blocking. */
    public static OnnxModel load(byte[] model, SessionSettings settings, String description) throws ModelLoadException {
        return open(settings, description, (env, options) -> env.createSession(model, options));
    }

    /**
     * The graph ONNX Runtime's CPU optimizer makes of a model at the settings' optimization level
     * (fused operators: FusedMatMul, BiasGelu, DynamicQuantizeMatMul, ...), as the serving sessions
     * of those settings run it; at most the extended level, which saves portably. Blocking.
     *
     * @throws ModelLoadException when ONNX Runtime rejects the model
     */
    public static ai.onnx.proto.OnnxMl.ModelProto optimized(ai.onnx.proto.OnnxMl.ModelProto model, SessionSettings settings,
                                                            String description) throws ModelLoadException {
        // the model read by the session from a file and the optimized graph read back from one: no serialized copy on the heap
        return throughFile(model, description, source -> optimized(source, settings, description));
    }

    private static ai.onnx.proto.OnnxMl.ModelProto optimized(Path source, SessionSettings settings, String description)
            throws ModelLoadException {
        Path file = null;
        try {
            file = Files.createTempFile("igate-optimized-", ".onnx");
            Path out = file;
            // extended is the most a saved graph holds portably, and all adds nothing more for transformers on a CPU
            String level = settings.optimizationLevel().equals("all") ? "extended" : settings.optimizationLevel();
            SessionSettings cpu = new SessionSettings("cpu", 1, 1, level);
            open(cpu, description, (env, options) -> {
                options.setOptimizedModelFilePath(out.toString());
                return env.createSession(source.toString(), options);
            }).close();
            return dev.igate.predictor.onnx.OnnxProtos.read(file);
        } catch (java.io.IOException e) {
            throw new ModelLoadException("could not write the optimized graph of " + description + ": " + e.getMessage(), e);
        } finally {
            deleteQuietly(file);
        }
    }

    private interface SessionOpener {
        OrtSession open(OrtEnvironment env, OrtSession.SessionOptions options) throws OrtException;
    }

    private static OnnxModel open(SessionSettings settings, String what, SessionOpener opener) throws ModelLoadException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setOptimizationLevel(switch (settings.optimizationLevel()) {
                case "none" -> OrtSession.SessionOptions.OptLevel.NO_OPT;
                case "basic" -> OrtSession.SessionOptions.OptLevel.BASIC_OPT;
                case "extended" -> OrtSession.SessionOptions.OptLevel.EXTENDED_OPT;
                default -> OrtSession.SessionOptions.OptLevel.ALL_OPT;
            });
            if (settings.intraOpThreads() > 0) {
                options.setIntraOpNumThreads(settings.intraOpThreads());
            }
            if (settings.interOpThreads() > 0) {
                options.setInterOpNumThreads(settings.interOpThreads());
            }
            if (!settings.allowSpinning()) {
                options.addConfigEntry("session.intra_op.allow_spinning", "0");
                options.addConfigEntry("session.inter_op.allow_spinning", "0");
            } else {
                // spin between the operators of a run, not after it: an idle session must leave the cores to others
                options.addConfigEntry("session.force_spinning_stop", "1");
            }
            // ONNX Runtime's profiler, for measuring (BENCHMARKS.md): -Digate.onnx.profile=<folder> profiles the sessions
            // whose description holds -Digate.onnx.profile-sessions (all by default); each writes its JSON trace on closing
            String profile = System.getProperty("igate.onnx.profile");
            if (profile != null && what.contains(System.getProperty("igate.onnx.profile-sessions", ""))) {
                options.enableProfiling(profile + "/" + what.replaceAll("[^A-Za-z0-9]+", "_"));
            }
            ExecutionProvider provider = chooseProvider(settings, options, what);
            return new OnnxModel(env, opener.open(env, options), provider);
        } catch (OrtException e) {
            throw new ModelLoadException("ONNX Runtime could not load " + what + ": " + e.getMessage(), e);
        }
    }

    /**
     * The execution provider sessions with these settings would run on, without opening one: CUDA
     * when it is asked for or {@code auto} finds it in this build, else CPU.
     */
    public static ExecutionProvider providerFor(SessionSettings settings) {
        if (settings.device().equals("cpu")) {
            return ExecutionProvider.CPU;
        }
        return settings.device().startsWith("cuda") || OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA)
                ? ExecutionProvider.CUDA : ExecutionProvider.CPU;
    }

    private static ExecutionProvider chooseProvider(SessionSettings settings, OrtSession.SessionOptions options,
                                                    String what) throws ModelLoadException {
        if (settings.device().equals("cpu")) {
            return ExecutionProvider.CPU;
        }
        boolean required = settings.device().startsWith("cuda");
        if (!OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA)) {
            if (required) {
                throw new ModelLoadException("device " + settings.device()
                        + " asked for, but this build's ONNX Runtime has no CUDA provider (build with -Pgpu)");
            }
            if (cpuFallbackLogged.compareAndSet(false, true)) {
                log.info("device auto: this build's ONNX Runtime has no CUDA provider (build with -Pgpu for it), "
                        + "models run on CPUExecutionProvider");
            }
            return ExecutionProvider.CPU;
        }
        try {
            options.addCUDA(settings.cudaDeviceId());
            return ExecutionProvider.CUDA;
        } catch (OrtException e) {
            if (required) {
                throw new ModelLoadException("CUDA device " + settings.cudaDeviceId() + " unavailable: " + e.getMessage(), e);
            }
            log.info("{}: CUDA unavailable ({}), running on CPU", what, e.getMessage());
            return ExecutionProvider.CPU;
        }
    }

    public ExecutionProvider provider() {
        return provider;
    }

    public List<TensorMetadata> inputs() {
        return inputs;
    }

    public List<TensorMetadata> outputs() {
        return outputs;
    }

    public boolean hasInput(String name) {
        return inputsByName.containsKey(name);
    }

    /**
     * The session inputs for padded token rows: input_ids, and attention_mask and token_type_ids
     * when the model takes them (DistilBERT and RoBERTa exports have no token_type_ids).
     */
    public List<Tensor> tokenFeeds(long[] shape, long[] ids, long[] mask, long[] types) {
        List<Tensor> feeds = new ArrayList<>(3);
        feeds.add(tokenTensor("input_ids", shape, ids));
        if (hasInput("attention_mask")) {
            feeds.add(tokenTensor("attention_mask", shape, mask));
        }
        if (hasInput("token_type_ids")) {
            feeds.add(tokenTensor("token_type_ids", shape, types));
        }
        return feeds;
    }

    /**
     * A token input (ids, mask or types) as the session takes it: INT64, or INT32 for exports whose
     * token inputs are INT32 (the server casts; every token id fits).
     */
    public Tensor tokenTensor(String name, long[] shape, long[] values) {
        TensorMetadata spec = inputsByName.get(name);
        return spec != null && spec.datatype() == Datatype.INT32 ? int32(name, shape, values) : Tensor.ofLongs(name, shape, values);
    }

    /** {@code values} as an INT32 tensor. */
    public static Tensor int32(String name, long[] shape, long[] values) {
        int[] ints = new int[values.length];
        for (int i = 0; i < values.length; i++) {
            ints[i] = Math.toIntExact(values[i]);
        }
        return new Tensor(name, Datatype.INT32, shape, ints);
    }

    /**
     * Runs the session. Blocking.
     *
     * @param feeds       one tensor per session input, in any order
     * @param outputNames outputs to return; empty means all
     * @throws InvalidInputException    when names, datatypes or shapes disagree with the session
     * @throws InferenceFailedException when ONNX Runtime fails on valid inputs
     */
    public List<Tensor> run(Collection<Tensor> feeds, Collection<String> outputNames) {
        validate(feeds, outputNames);
        Set<String> wanted = new LinkedHashSet<>(outputNames);
        if (wanted.isEmpty()) {
            outputs.forEach(o -> wanted.add(o.name()));
        }
        Map<String, OnnxTensor> native_ = new LinkedHashMap<>();
        try {
            for (Tensor t : feeds) {
                native_.put(t.name(), toOrt(t));
            }
            try (OrtSession.Result result = session.run(native_, wanted)) {
                List<Tensor> out = new ArrayList<>(wanted.size());
                for (Map.Entry<String, OnnxValue> e : result) {
                    out.add(fromOrt(e.getKey(), (OnnxTensor) e.getValue()));
                }
                return out;
            }
        } catch (OrtException e) {
            throw new InferenceFailedException("ONNX Runtime failed: " + e.getMessage(), e);
        } finally {
            native_.values().forEach(OnnxTensor::close);
        }
    }

    /**
     * Checks inputs and requested outputs against the session, without running it.
     *
     * @throws InvalidInputException naming the first problem and what was expected
     */
    public void validate(Collection<Tensor> feeds, Collection<String> outputNames) {
        for (String name : outputNames) {
            if (outputs.stream().noneMatch(o -> o.name().equals(name))) {
                throw new InvalidInputException("Unknown output name " + name + ", expected one of " + names(outputs));
            }
        }
        Set<String> seen = new LinkedHashSet<>();
        for (Tensor t : feeds) {
            TensorMetadata spec = inputsByName.get(t.name());
            if (spec == null) {
                throw new InvalidInputException("Unknown input name " + t.name() + ", expected one of " + names(inputs));
            }
            if (!seen.add(t.name())) {
                throw new InvalidInputException("Duplicate input name " + t.name());
            }
            if (spec.datatype() != t.datatype()) {
                throw new InvalidInputException("Input " + t.name() + " must have datatype " + spec.datatype()
                        + ", was " + t.datatype());
            }
            if (!shapeFits(spec.shape(), t.shape())) {
                throw new InvalidInputException("Input " + t.name() + " must have shape " + Arrays.toString(spec.shape())
                        + " (-1 = any), was " + Arrays.toString(t.shape()));
            }
        }
        if (seen.size() != inputs.size()) {
            List<String> missing = inputs.stream().map(TensorMetadata::name).filter(n -> !seen.contains(n)).toList();
            throw new InvalidInputException("Missing inputs " + missing + ", the model takes " + names(inputs));
        }
    }

    private static boolean shapeFits(long[] spec, long[] actual) {
        if (spec.length != actual.length) {
            return false;
        }
        for (int i = 0; i < spec.length; i++) {
            if (spec[i] >= 0 && spec[i] != actual[i]) {
                return false;
            }
        }
        return true;
    }

    private static List<String> names(List<TensorMetadata> tensors) {
        return tensors.stream().map(TensorMetadata::name).toList();
    }

    private OnnxTensor toOrt(Tensor t) throws OrtException {
        long[] shape = t.shape();
        return switch (t.datatype()) {
            case FP32 -> OnnxTensor.createTensor(env, FloatBuffer.wrap(t.floats()), shape);
            case FP64 -> OnnxTensor.createTensor(env, DoubleBuffer.wrap((double[]) t.data()), shape);
            case INT64, UINT64 -> OnnxTensor.createTensor(env, LongBuffer.wrap(t.longs()), shape);
            case INT32, UINT32 -> OnnxTensor.createTensor(env, IntBuffer.wrap((int[]) t.data()), shape);
            case INT16, UINT16 -> OnnxTensor.createTensor(env, ShortBuffer.wrap((short[]) t.data()), shape);
            case INT8 -> OnnxTensor.createTensor(env, ByteBuffer.wrap((byte[]) t.data()), shape, OnnxJavaType.INT8);
            case UINT8 -> OnnxTensor.createTensor(env, ByteBuffer.wrap((byte[]) t.data()), shape, OnnxJavaType.UINT8);
            case BOOL -> {
                boolean[] b = (boolean[]) t.data();
                ByteBuffer buf = ByteBuffer.allocateDirect(b.length).order(ByteOrder.nativeOrder());
                for (boolean v : b) {
                    buf.put((byte) (v ? 1 : 0));
                }
                buf.rewind();
                yield OnnxTensor.createTensor(env, buf, shape, OnnxJavaType.BOOL);
            }
            case FP16 -> OnnxTensor.createTensor(env,
                    Fp16Conversions.convertFloatBufferToFp16Buffer(FloatBuffer.wrap(t.floats())), shape, OnnxJavaType.FLOAT16);
            case BF16 -> OnnxTensor.createTensor(env,
                    Fp16Conversions.convertFloatBufferToBf16Buffer(FloatBuffer.wrap(t.floats())), shape, OnnxJavaType.BFLOAT16);
            case BYTES -> OnnxTensor.createTensor(env, t.strings(), shape);
        };
    }

    private static Tensor fromOrt(String name, OnnxTensor value) throws OrtException {
        TensorInfo info = value.getInfo();
        long[] shape = info.getShape();
        Datatype type = datatype(info.onnxType);
        Object data = switch (type) {
            case FP32 -> copy(value.getFloatBuffer());
            case FP64 -> { DoubleBuffer b = value.getDoubleBuffer(); double[] a = new double[b.remaining()]; b.get(a); yield a; }
            case INT64, UINT64 -> { LongBuffer b = value.getLongBuffer(); long[] a = new long[b.remaining()]; b.get(a); yield a; }
            case INT32, UINT32 -> { IntBuffer b = value.getIntBuffer(); int[] a = new int[b.remaining()]; b.get(a); yield a; }
            case INT16, UINT16 -> { ShortBuffer b = value.getShortBuffer(); short[] a = new short[b.remaining()]; b.get(a); yield a; }
            case INT8, UINT8 -> { ByteBuffer b = value.getByteBuffer(); byte[] a = new byte[b.remaining()]; b.get(a); yield a; }
            case BOOL -> {
                ByteBuffer b = value.getByteBuffer();
                boolean[] a = new boolean[b.remaining()];
                for (int i = 0; i < a.length; i++) {
                    a[i] = b.get(i) != 0;
                }
                yield a;
            }
            case FP16 -> copy(Fp16Conversions.convertFp16BufferToFloatBuffer(value.getShortBuffer()));
            case BF16 -> copy(Fp16Conversions.convertBf16BufferToFloatBuffer(value.getShortBuffer()));
            case BYTES -> {
                String[] flat = flatStrings(value.getValue());
                byte[][] a = new byte[flat.length][];
                for (int i = 0; i < flat.length; i++) {
                    a[i] = flat[i].getBytes(StandardCharsets.UTF_8);
                }
                yield a;
            }
        };
        return new Tensor(name, type, shape, data);
    }

    private static float[] copy(FloatBuffer b) {
        float[] a = new float[b.remaining()];
        b.get(a);
        return a;
    }

    private static String[] flatStrings(Object value) {
        List<String> out = new ArrayList<>();
        collect(value, out);
        return out.toArray(String[]::new);
    }

    private static void collect(Object value, List<String> out) {
        if (value instanceof String s) {
            out.add(s);
        } else if (value instanceof Object[] arr) {
            for (Object o : arr) {
                collect(o, out);
            }
        }
    }

    private static List<TensorMetadata> describe(Map<String, NodeInfo> infos) {
        List<TensorMetadata> list = new ArrayList<>();
        for (NodeInfo n : infos.values()) {
            if (n.getInfo() instanceof TensorInfo ti) {
                list.add(new TensorMetadata(n.getName(), datatype(ti.onnxType), ti.getShape()));
            }
        }
        return List.copyOf(list);
    }

    static Datatype datatype(TensorInfo.OnnxTensorType t) {
        return switch (t) {
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT -> Datatype.FP32;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE -> Datatype.FP64;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 -> Datatype.FP16;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16 -> Datatype.BF16;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8 -> Datatype.INT8;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8 -> Datatype.UINT8;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16 -> Datatype.INT16;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16 -> Datatype.UINT16;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32 -> Datatype.INT32;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32 -> Datatype.UINT32;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 -> Datatype.INT64;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64 -> Datatype.UINT64;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL -> Datatype.BOOL;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING -> Datatype.BYTES;
            default -> throw new IllegalArgumentException("unsupported ONNX tensor type " + t);
        };
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException e) {
            log.warn("closing ONNX Runtime session failed", e);
        }
    }
}
