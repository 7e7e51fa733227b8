package dev.igate.grpc;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.igate.grpc.v2.InferParameter;
import dev.igate.grpc.v2.InferTensorContents;
import dev.igate.grpc.v2.ModelInferRequest;
import dev.igate.grpc.v2.ModelInferResponse;
import dev.igate.grpc.v2.ModelMetadataResponse;
import dev.igate.protocol.Datatype;
import dev.igate.protocol.Explanation;
import dev.igate.protocol.InferenceRequest;
import dev.igate.protocol.InferenceResponse;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Json;
import dev.igate.protocol.ModelMetadata;
import dev.igate.protocol.Tensor;
import dev.igate.protocol.TensorMetadata;
import dev.igate.protocol.v2.BinaryTensors;
import dev.igate.protocol.v2.V2Codec;

/**
 * Translates the V2 gRPC messages to the internal request and back, as {@code V2Codec} does for
 * REST bodies. Tensors arrive either typed ({@code contents}, the field that matches the
 * datatype) or raw ({@code raw_input_contents}, one little-endian entry per input, the layout of
 * the binary tensor data extension). Every decoding problem is an {@link InvalidInputException}
 * that names the input and what was expected.
 */
public final class GrpcCodec {

    /** Output parameter: answer with raw contents (raw inputs imply it too). */
    public static final String BINARY_DATA = "binary_data";
    /** Request parameter: answer every output with raw contents. */
    public static final String BINARY_DATA_OUTPUT = "binary_data_output";

    private GrpcCodec() {
    }

    /**
     * Decodes a ModelInfer request. {@code binaryOutputs} of the result lists every output when
     * the response should use {@code raw_output_contents}: the request sent raw inputs or asked
     * for binary data.
     *
     * @throws InvalidInputException for any malformed or inconsistent request
     */
    public static InferenceRequest decodeInfer(ModelInferRequest request) {
        if (request.getModelName().isEmpty()) {
            throw new InvalidInputException("model_name is required");
        }
        if (request.getInputsCount() == 0) {
            throw new InvalidInputException("inputs must hold at least one tensor");
        }
        boolean raw = request.getRawInputContentsCount() > 0;
        if (raw && request.getRawInputContentsCount() != request.getInputsCount()) {
            throw new InvalidInputException("raw_input_contents holds " + request.getRawInputContentsCount()
                    + " entries for " + request.getInputsCount() + " inputs; it needs one per input");
        }
        List<Tensor> inputs = new ArrayList<>(request.getInputsCount());
        Set<String> names = new HashSet<>();
        for (int i = 0; i < request.getInputsCount(); i++) {
            ModelInferRequest.InferInputTensor in = request.getInputs(i);
            if (raw && in.hasContents()) {
                throw new InvalidInputException("Input " + in.getName() + " has typed contents in a request that uses "
                        + "raw_input_contents; use one or the other");
            }
            Tensor t = decodeTensor(in.getName(), in.getDatatype(), in.getShapeList(), in.getContents(),
                    raw ? request.getRawInputContents(i) : null);
            if (!names.add(t.name())) {
                throw new InvalidInputException("Duplicate input name " + t.name());
            }
            inputs.add(t);
        }
        Map<String, Object> parameters = parameters(request.getParametersMap(), "Request");
        List<String> outputs = new ArrayList<>(request.getOutputsCount());
        Map<String, Integer> classifications = new java.util.HashMap<>();
        boolean binaryOutput = raw || Boolean.TRUE.equals(parameters.get(BINARY_DATA_OUTPUT));
        for (ModelInferRequest.InferRequestedOutputTensor out : request.getOutputsList()) {
            if (out.getName().isEmpty()) {
                throw new InvalidInputException("Every requested output needs a name");
            }
            outputs.add(out.getName());
            Map<String, Object> outputParameters = parameters(out.getParametersMap(), "Output " + out.getName());
            int k = InferenceRequest.outputParameters(out.getName(), outputParameters);
            if (k > 0) {
                classifications.put(out.getName(), k);
            }
            binaryOutput |= Boolean.TRUE.equals(outputParameters.get(BINARY_DATA));
        }
        String id = request.getId().isEmpty() ? null : request.getId();
        String version = request.getModelVersion().isEmpty() ? null : request.getModelVersion();
        return new InferenceRequest(id, request.getModelName(), version, inputs, outputs, parameters,
                binaryOutput ? Set.of(InferenceRequest.ALL_OUTPUTS) : Set.of(), classifications);
    }

    /**
     * The elements the inputs' shapes declare, summed without decoding any data (saturating at
     * {@code Long.MAX_VALUE}; negative dimensions count as 0 here and are rejected when decoded):
     * lets a server refuse an oversized request before it allocates the tensors.
     */
    public static long declaredElements(ModelInferRequest request) {
        long total = 0;
        for (ModelInferRequest.InferInputTensor in : request.getInputsList()) {
            long n = 1;
            for (long d : in.getShapeList()) {
                n = d <= 0 ? 0 : n > Long.MAX_VALUE / d ? Long.MAX_VALUE : n * d;
            }
            total = total > Long.MAX_VALUE - n ? Long.MAX_VALUE : total + n;
        }
        return total;
    }

    /**
     * Decodes one tensor from typed contents, or from its raw bytes when {@code raw} is not null.
     *
     * @throws InvalidInputException when the shape, datatype and data disagree
     */
    public static Tensor decodeTensor(String name, String datatype, List<Long> shapeList, InferTensorContents contents,
                                      ByteString raw) {
        if (name.isEmpty()) {
            throw new InvalidInputException("Every input needs a non-empty name");
        }
        Datatype type = Datatype.parse(datatype);
        long[] shape = shapeList.stream().mapToLong(Long::longValue).toArray();
        for (long d : shape) {
            if (d < 0) {
                throw new InvalidInputException("Input " + name + " has shape " + Arrays.toString(shape)
                        + "; gRPC tensors need every dimension given");
            }
        }
        long count = Tensor.elementCount(shape);
        if (count > Integer.MAX_VALUE) {
            throw new InvalidInputException("Input " + name + " has too many elements");
        }
        int n = (int) count;
        if (raw != null) {
            return new Tensor(name, type, shape, BinaryTensors.decode(name, type, n, raw.asReadOnlyByteBuffer()));
        }
        return new Tensor(name, type, shape, typed(name, type, n, contents));
    }

    private static Object typed(String name, Datatype type, int n, InferTensorContents c) {
        int filled = c.getBoolContentsCount() + c.getIntContentsCount() + c.getInt64ContentsCount() + c.getUintContentsCount()
                + c.getUint64ContentsCount() + c.getFp32ContentsCount() + c.getFp64ContentsCount() + c.getBytesContentsCount();
        TypedContents field = TypedContents.of(type);
        if (field == null && n > 0) {
            throw new InvalidInputException("Input " + name + " is " + type + ", which has no typed contents field: "
                    + "send it in raw_input_contents");
        }
        int matching = field == null ? 0 : field.count(c);
        if (filled != matching) {
            throw new InvalidInputException("Input " + name + " has datatype " + type + " but fills a contents field of "
                    + "another datatype");
        }
        if (matching != n) {
            throw new InvalidInputException("Input " + name + " has " + n + " elements by its shape but " + matching
                    + " in its contents");
        }
        return field == null ? dev.igate.protocol.Elements.of(type).zeros(0) : field.read(name, c, n);
    }

    /**
     * Encodes a ModelInfer response; with {@code raw} the data goes in
     * {@code raw_output_contents}. FP16 and BF16 outputs have no typed field, so they make the
     * whole response raw.
     */
    public static ModelInferResponse encodeInfer(InferenceResponse response, boolean raw) {
        boolean useRaw = raw || response.outputs().stream()
                .anyMatch(t -> t.datatype() == Datatype.FP16 || t.datatype() == Datatype.BF16);
        ModelInferResponse.Builder b = ModelInferResponse.newBuilder()
                .setModelName(response.model())
                .setModelVersion(response.version() == null ? "" : response.version())
                .setId(response.id() == null ? "" : response.id())
                .putAllParameters(toParameters(response.parameters()));
        for (Tensor t : response.outputs()) {
            ModelInferResponse.InferOutputTensor.Builder o = ModelInferResponse.InferOutputTensor.newBuilder()
                    .setName(t.name()).setDatatype(t.datatype().name());
            for (long d : t.shape()) {
                o.addShape(d);
            }
            if (useRaw) {
                b.addRawOutputContents(raw(t));
            } else {
                o.setContents(contents(t));
            }
            b.addOutputs(o);
        }
        return b.build();
    }

    /** A tensor's elements in the typed contents field of its datatype (not FP16 or BF16). */
    public static InferTensorContents contents(Tensor t) {
        InferTensorContents.Builder c = InferTensorContents.newBuilder();
        TypedContents field = TypedContents.of(t.datatype());
        if (field == null) {
            throw new IllegalArgumentException(t.datatype() + " has no typed contents field");
        }
        field.write(t.data(), c);
        return c.build();
    }

    /** The output tensors of a response, typed or raw: what a client reads. */
    public static List<Tensor> decodeOutputs(ModelInferResponse response) {
        boolean raw = response.getRawOutputContentsCount() > 0;
        if (raw && response.getRawOutputContentsCount() != response.getOutputsCount()) {
            throw new InvalidInputException("raw_output_contents holds " + response.getRawOutputContentsCount()
                    + " entries for " + response.getOutputsCount() + " outputs");
        }
        List<Tensor> out = new ArrayList<>();
        for (int i = 0; i < response.getOutputsCount(); i++) {
            ModelInferResponse.InferOutputTensor o = response.getOutputs(i);
            out.add(decodeTensor(o.getName(), o.getDatatype(), o.getShapeList(), o.getContents(),
                    raw ? response.getRawOutputContents(i) : null));
        }
        return out;
    }

    /** Model metadata as the ModelMetadata RPC answers it. */
    public static ModelMetadataResponse encodeMetadata(ModelMetadata m) {
        ModelMetadataResponse.Builder b = ModelMetadataResponse.newBuilder()
                .setName(m.name()).addAllVersions(m.versions()).setPlatform(m.platform())
                .putAllParameters(toParameters(m.parameters()));
        for (TensorMetadata t : m.inputs()) {
            b.addInputs(tensorMetadata(t));
        }
        for (TensorMetadata t : m.outputs()) {
            b.addOutputs(tensorMetadata(t));
        }
        return b.build();
    }

    private static ModelMetadataResponse.TensorMetadata tensorMetadata(TensorMetadata t) {
        ModelMetadataResponse.TensorMetadata.Builder b = ModelMetadataResponse.TensorMetadata.newBuilder()
                .setName(t.name()).setDatatype(t.datatype().name());
        for (long d : t.shape()) {
            b.addShape(d);
        }
        return b.build();
    }

    /**
     * Encodes explanations as the explain extension answers them: one BYTES output
     * {@code explain}, an element per text holding the JSON object the REST explain returns.
     */
    public static ModelInferResponse encodeExplain(String id, String model, String version, List<Explanation> explanations) {
        InferTensorContents.Builder c = InferTensorContents.newBuilder();
        for (Explanation e : explanations) {
            c.addBytesContents(UnsafeByteOperations.unsafeWrap(Json.write(V2Codec.explanationCore(Json.object(), e))));
        }
        return ModelInferResponse.newBuilder()
                .setModelName(model)
                .setModelVersion(version == null ? "" : version)
                .setId(id == null ? "" : id)
                .addOutputs(ModelInferResponse.InferOutputTensor.newBuilder()
                        .setName("explain").setDatatype(Datatype.BYTES.name()).addShape(explanations.size()).setContents(c))
                .build();
    }

    /** Parameters as plain values: Boolean, Long, String or Double. */
    public static Map<String, Object> parameters(Map<String, InferParameter> map, String where) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<String, InferParameter> e : map.entrySet()) {
            InferParameter p = e.getValue();
            Object v = switch (p.getParameterChoiceCase()) {
                case BOOL_PARAM -> p.getBoolParam();
                case INT64_PARAM -> p.getInt64Param();
                case STRING_PARAM -> p.getStringParam();
                case DOUBLE_PARAM -> p.getDoubleParam();
                case UINT64_PARAM -> {
                    if (p.getUint64Param() < 0) {
                        throw new InvalidInputException(where + " parameter " + e.getKey() + " is out of range");
                    }
                    yield p.getUint64Param();
                }
                case PARAMETERCHOICE_NOT_SET -> throw new InvalidInputException(where + " parameter " + e.getKey() + " has no value");
            };
            out.put(e.getKey(), v);
        }
        return out;
    }

    /** Plain values as parameters; strings as strings, lists and maps as their JSON text. */
    public static Map<String, InferParameter> toParameters(Map<String, Object> map) {
        Map<String, InferParameter> out = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : map.entrySet()) {
            out.put(e.getKey(), parameter(e.getValue()));
        }
        return out;
    }

    public static InferParameter parameter(Object v) {
        InferParameter.Builder p = InferParameter.newBuilder();
        if (v instanceof Boolean bool) {
            p.setBoolParam(bool);
        } else if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
            p.setInt64Param(((Number) v).longValue());
        } else if (v instanceof Number number) {
            p.setDoubleParam(number.doubleValue());
        } else if (v instanceof CharSequence text) {
            p.setStringParam(text.toString());
        } else {
            p.setStringParam(new String(Json.write(Json.MAPPER.valueToTree(v)), java.nio.charset.StandardCharsets.UTF_8));
        }
        return p.build();
    }

    /** Raw bytes for {@code raw_input_contents}: the tensor's elements, little-endian. */
    public static ByteString raw(Tensor t) {
        return UnsafeByteOperations.unsafeWrap(BinaryTensors.encode(t));
    }
}
