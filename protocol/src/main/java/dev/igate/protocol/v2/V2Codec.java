package dev.igate.protocol.v2;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import dev.igate.protocol.Datatype;
import dev.igate.protocol.Elements;
import dev.igate.protocol.Explanation;
import dev.igate.protocol.InferenceRequest;
import dev.igate.protocol.InferenceResponse;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Json;
import dev.igate.protocol.ModelMetadata;
import dev.igate.protocol.Tensor;
import dev.igate.protocol.TensorMetadata;
import tools.jackson.core.JsonGenerator;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * Reads and writes the Open Inference Protocol (KServe V2) REST bodies.
 *
 * <p>Accepts what KServe accepts: {@code "shape"} as an array or a bare number (a bare
 * {@code -1} means "as many as the data holds", and a bare scalar datum is a scalar tensor),
 * {@code "data"} flat, nested or a bare scalar. Every decoding problem is an
 * {@link InvalidInputException} whose message names the input and what was expected.
 */
public final class V2Codec {

    private V2Codec() {
    }

    /**
     * Decodes an infer request body.
     *
     * @throws InvalidInputException for any malformed or inconsistent request
     */
    public static InferenceRequest decodeInfer(String model, String version, byte[] body) {
        return decodeInfer(model, version, body, -1);
    }

    /**
     * Decodes an infer request that may use the binary tensor data extension: the first
     * {@code headerLength} bytes are the JSON, the rest the binary data of the inputs that declare
     * {@code binary_data_size}, in input order. A negative {@code headerLength} means JSON only.
     *
     * @throws InvalidInputException for any malformed or inconsistent request
     */
    public static InferenceRequest decodeInfer(String model, String version, byte[] body, int headerLength) {
        if (headerLength > body.length) {
            throw new InvalidInputException("Inference-Header-Content-Length " + headerLength + " exceeds the body's "
                    + body.length + " bytes");
        }
        ObjectNode root = Json.parseObject(headerLength < 0 ? body : java.util.Arrays.copyOf(body, headerLength));
        ByteBuffer binary = headerLength < 0 ? ByteBuffer.allocate(0)
                : ByteBuffer.wrap(body, headerLength, body.length - headerLength).slice();
        String id = null;
        JsonNode idNode = root.get("id");
        if (idNode != null && !idNode.isNull()) {
            if (!idNode.isString()) {
                throw new InvalidInputException("\"id\" must be a string");
            }
            id = idNode.stringValue();
        }
        JsonNode inputsNode = root.get("inputs");
        if (inputsNode == null || !inputsNode.isArray() || inputsNode.isEmpty()) {
            throw new InvalidInputException("\"inputs\" must be a non-empty array of tensors");
        }
        List<Tensor> inputs = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (JsonNode in : inputsNode) {
            Tensor t = in.isObject() && in.path("parameters").has("binary_data_size") ? decodeBinaryTensor(in, binary) : decodeTensor(in);
            if (!names.add(t.name())) {
                throw new InvalidInputException("Duplicate input name " + t.name());
            }
            inputs.add(t);
        }
        if (binary.hasRemaining()) {
            throw new InvalidInputException(binary.remaining() + " bytes of binary data follow the inputs' declared binary_data_size");
        }
        List<String> outputs = new ArrayList<>();
        Set<String> binaryOutputs = new HashSet<>();
        Map<String, Integer> classifications = new java.util.HashMap<>();
        JsonNode outputsNode = root.get("outputs");
        if (outputsNode != null && !outputsNode.isNull()) {
            if (!outputsNode.isArray()) {
                throw new InvalidInputException("\"outputs\" must be an array of {\"name\": ...}");
            }
            for (JsonNode out : outputsNode) {
                JsonNode n = out.get("name");
                if (n == null || !n.isString()) {
                    throw new InvalidInputException("Every requested output needs a string \"name\"");
                }
                outputs.add(n.stringValue());
                Map<String, Object> outputParameters = Json.parameters(out.get("parameters"), "Output");
                int k = InferenceRequest.outputParameters(n.stringValue(), outputParameters);
                if (k > 0) {
                    classifications.put(n.stringValue(), k);
                }
                if (Boolean.TRUE.equals(outputParameters.get("binary_data"))) {
                    binaryOutputs.add(n.stringValue());
                }
            }
        }
        Map<String, Object> parameters = Json.parameters(root.get("parameters"), "Request");
        if (Boolean.TRUE.equals(parameters.get("binary_data_output"))) {
            binaryOutputs.add(InferenceRequest.ALL_OUTPUTS);
        }
        return new InferenceRequest(id, model, version, inputs, outputs, parameters, binaryOutputs, classifications);
    }

    private static Tensor decodeBinaryTensor(JsonNode in, ByteBuffer binary) {
        String name = inputName(in);
        Datatype datatype = inputDatatype(in, name);
        if (in.has("data")) {
            throw new InvalidInputException("Input " + name + " has both \"data\" and binary_data_size");
        }
        JsonNode size = in.path("parameters").get("binary_data_size");
        if (!size.isIntegralNumber() || !size.canConvertToInt() || size.intValue() < 0) {
            throw new InvalidInputException("Input " + name + " binary_data_size must be a non-negative integer");
        }
        if (size.intValue() > binary.remaining()) {
            throw new InvalidInputException("Input " + name + " declares " + size.intValue() + " bytes of binary data but only "
                    + binary.remaining() + " remain");
        }
        long[] shape = decodeShape(name, in.get("shape"), tools.jackson.databind.node.JsonNodeFactory.instance.arrayNode(), 0);
        for (long d : shape) {
            if (d < 0) {
                throw new InvalidInputException("Input " + name + " needs an explicit shape for binary data");
            }
        }
        long count = Tensor.elementCount(shape);
        if (count > Integer.MAX_VALUE) {
            throw new InvalidInputException("Input " + name + " has too many elements");
        }
        ByteBuffer bytes = binary.slice();
        bytes.limit(size.intValue());
        binary.position(binary.position() + size.intValue());
        return new Tensor(name, datatype, shape, BinaryTensors.decode(name, datatype, (int) count, bytes));
    }

    /** An encoded response that uses the binary tensor data extension. */
    public record BinaryBody(byte[] body, int headerLength) {
    }

    /**
     * Encodes an infer response with the outputs the request asked for in binary after the JSON
     * (their JSON entries carry {@code binary_data_size} and no data).
     */
    public static BinaryBody encodeInferBinary(InferenceResponse response, InferenceRequest request) {
        java.io.ByteArrayOutputStream binary = new java.io.ByteArrayOutputStream();
        byte[] json = Json.stream(g -> writeInfer(g, response, t -> {
            if (!request.binary(t.name())) {
                return -1;
            }
            byte[] bytes = BinaryTensors.encode(t);
            binary.writeBytes(bytes);
            return bytes.length;
        }));
        byte[] body = java.util.Arrays.copyOf(json, json.length + binary.size());
        System.arraycopy(binary.toByteArray(), 0, body, json.length, binary.size());
        return new BinaryBody(body, json.length);
    }

    static Tensor decodeTensor(JsonNode in) {
        if (in == null || !in.isObject()) {
            throw new InvalidInputException("Every input must be a JSON object with name, shape, datatype and data");
        }
        String name = inputName(in);
        Datatype datatype = inputDatatype(in, name);
        JsonNode data = in.get("data");
        if (data == null || data.isNull()) {
            throw new InvalidInputException("Input " + name + " has no \"data\"");
        }
        List<Integer> nestedDims = new ArrayList<>();
        List<JsonNode> leaves = new ArrayList<>();
        flatten(name, data, 0, nestedDims, leaves);
        long[] shape = decodeShape(name, in.get("shape"), data, leaves.size());
        if (nestedDims.size() > 1) {
            long[] nested = nestedDims.stream().mapToLong(Integer::longValue).toArray();
            if (!Arrays.equals(nested, shape)) {
                throw new InvalidInputException("Input " + name + " has nested data of shape "
                        + Arrays.toString(nested) + " but declares shape " + Arrays.toString(shape));
            }
        }
        long expected = Tensor.elementCount(shape);
        if (expected != leaves.size()) {
            throw new InvalidInputException("Input " + name + " has shape " + Arrays.toString(shape) + " ("
                    + expected + " elements) but " + leaves.size() + " data elements");
        }
        return new Tensor(name, datatype, shape, Elements.of(datatype).fromJson(name, leaves));
    }

    private static String inputName(JsonNode in) {
        JsonNode nameNode = in.get("name");
        if (nameNode == null || !nameNode.isString() || nameNode.stringValue().isEmpty()) {
            throw new InvalidInputException("Every input needs a non-empty string \"name\"");
        }
        return nameNode.stringValue();
    }

    private static Datatype inputDatatype(JsonNode in, String name) {
        JsonNode dt = in.get("datatype");
        if (dt == null || !dt.isString()) {
            throw new InvalidInputException("Input " + name + " needs a string \"datatype\"");
        }
        return Datatype.parse(dt.stringValue());
    }

    private static long[] decodeShape(String name, JsonNode shapeNode, JsonNode data, int count) {
        if (shapeNode == null || shapeNode.isNull()) {
            throw new InvalidInputException("Input " + name + " needs a \"shape\"");
        }
        if (shapeNode.isNumber()) {
            long d = integral(name, shapeNode);
            if (d == -1) {
                return data.isArray() ? new long[] {count} : new long[0];
            }
            if (d < 0) {
                throw new InvalidInputException("Input " + name + " has negative shape " + d);
            }
            return new long[] {d};
        }
        if (!shapeNode.isArray()) {
            throw new InvalidInputException("Input " + name + " \"shape\" must be an array of integers");
        }
        long[] shape = new long[shapeNode.size()];
        int inferred = -1;
        long known = 1;
        for (int i = 0; i < shape.length; i++) {
            long d = integral(name, shapeNode.get(i));
            if (d == -1 && inferred < 0) {
                inferred = i;
            } else if (d < 0) {
                throw new InvalidInputException("Input " + name + " has invalid dimension " + d + " in its shape");
            } else {
                try {
                    known = Math.multiplyExact(known, d);
                } catch (ArithmeticException overflow) {
                    throw new InvalidInputException("Input " + name + " shape holds more elements than a tensor can");
                }
            }
            shape[i] = d;
        }
        if (inferred >= 0) {
            if (known == 0 || count % known != 0) {
                throw new InvalidInputException("Input " + name + " shape " + Arrays.toString(shape)
                        + " cannot hold " + count + " data elements");
            }
            shape[inferred] = count / known;
        }
        return shape;
    }

    private static long integral(String name, JsonNode n) {
        if (n == null || !n.isIntegralNumber() || !n.canConvertToLong()) {
            throw new InvalidInputException("Input " + name + " \"shape\" must hold integers");
        }
        return n.longValue();
    }

    /** Flattens nested arrays row-major, recording the nesting dimensions and rejecting ragged arrays. */
    private static void flatten(String name, JsonNode node, int depth, List<Integer> dims, List<JsonNode> leaves) {
        if (!node.isArray()) {
            if (depth < dims.size()) {
                throw new InvalidInputException("Input " + name + " has ragged nested data");
            }
            leaves.add(node);
            return;
        }
        if (depth == dims.size()) {
            if (!leaves.isEmpty()) {
                throw new InvalidInputException("Input " + name + " has ragged nested data");
            }
            dims.add(node.size());
        } else if (depth > dims.size() || dims.get(depth) != node.size()) {
            throw new InvalidInputException("Input " + name + " has ragged nested data");
        }
        for (JsonNode child : node) {
            flatten(name, child, depth + 1, dims, leaves);
        }
    }

    /** Encodes an infer response with flat data arrays. */
    public static byte[] encodeInfer(InferenceResponse response) {
        return Json.stream(g -> writeInfer(g, response, t -> -1));
    }

    /**
     * Writes an infer answer: model_name, model_version, id and parameters when present, then the
     * outputs; {@code binary} gives the size of an output sent after the JSON, or -1 for one whose
     * data is in the JSON.
     */
    private static void writeInfer(JsonGenerator g, InferenceResponse response, java.util.function.ToIntFunction<Tensor> binary) {
        g.writeStartObject();
        g.writeStringProperty("model_name", response.model());
        if (response.version() != null) {
            g.writeStringProperty("model_version", response.version());
        }
        if (response.id() != null) {
            g.writeStringProperty("id", response.id());
        }
        if (!response.parameters().isEmpty()) {
            g.writePOJOProperty("parameters", response.parameters());
        }
        g.writeArrayPropertyStart("outputs");
        for (Tensor t : response.outputs()) {
            writeTensor(g, t, binary.applyAsInt(t));
        }
        g.writeEndArray();
        g.writeEndObject();
    }

    /** Writes a tensor: name, datatype, shape, then its data, or (binary) its binary_data_size when that is not -1. */
    private static void writeTensor(JsonGenerator g, Tensor t, int binarySize) {
        g.writeStartObject();
        g.writeStringProperty("name", t.name());
        g.writeStringProperty("datatype", t.datatype().name());
        g.writeArrayPropertyStart("shape");
        for (long d : t.shape()) {
            g.writeNumber(d);
        }
        g.writeEndArray();
        if (binarySize < 0) {
            g.writeName("data");
            Elements.of(t.datatype()).toJson(t.data(), g);
        } else {
            g.writeObjectPropertyStart("parameters");
            g.writeNumberProperty("binary_data_size", binarySize);
            g.writeEndObject();
        }
        g.writeEndObject();
    }

    private static ObjectNode responseRoot(String id, String model, String version) {
        ObjectNode root = Json.object();
        root.put("model_name", model);
        if (version != null) {
            root.put("model_version", version);
        }
        if (id != null) {
            root.put("id", id);
        }
        return root;
    }



    /** Encodes model metadata as {@code GET /v2/models/{m}} answers it. */
    public static byte[] encodeMetadata(ModelMetadata m) {
        return Json.writeValue(V2Answers.Metadata.of(m));
    }

    /**
     * Encodes an explain response the way TorchServe's KServe wrapper does: one BYTES output
     * {@code explain} whose data holds an object per text with words, importances and delta.
     */
    public static byte[] encodeExplain(String id, String model, String version, List<Explanation> explanations) {
        ObjectNode root = responseRoot(id, model, version);
        ObjectNode out = root.putArray("outputs").addObject();
        out.put("name", "explain");
        out.put("datatype", "BYTES");
        out.putArray("shape").add(explanations.size());
        ArrayNode data = out.putArray("data");
        for (Explanation e : explanations) {
            explanationCore(data.addObject(), e);
        }
        return Json.write(root);
    }

    /** Writes what every explain answer carries: words, importances, delta, target, and whether it is approximate. */
    public static ObjectNode explanationCore(ObjectNode o, Explanation e) {
        ArrayNode words = o.putArray("words");
        e.words().forEach(words::add);
        ArrayNode importances = o.putArray("importances");
        for (double v : e.importances()) {
            importances.add(v);
        }
        if (e.segments() != null) {
            // each word's text of the pair, parallel to words (issue 26's contract name: segment)
            ArrayNode segments = o.putArray("segment");
            for (int segment : e.segments()) {
                segments.add(segment);
            }
        }
        if (e.starts() != null) {
            // each word's [start, end) in its text, code points: text[start:end] in Python is the word; [-1, -1] a special token
            ArrayNode offsets = o.putArray("offsets");
            for (int i = 0; i < e.starts().length; i++) {
                offsets.addArray().add(e.starts()[i]).add(e.ends()[i]);
            }
        }
        // integrated gradients' convergence delta; the other methods' attributions need not sum to the change
        if (e.hasDelta()) {
            o.put("delta", e.delta());
        }
        o.put("explainer", e.explainer());
        o.put("evaluations", e.evaluations());
        if (e.baselines() != null) {
            // as the request named it: one baseline, or the list the attributions are averaged over
            if (e.baselines().size() == 1) {
                o.put("baseline", e.baselines().get(0));
            } else {
                e.baselines().forEach(o.putArray("baseline")::add);
            }
        }
        if (e.faithfulness() != null) {
            ObjectNode f = o.putObject("faithfulness");
            f.put("comprehensiveness", e.faithfulness().comprehensiveness());
            f.put("sufficiency", e.faithfulness().sufficiency());
            // leave-one-out rank correlation; null when it is undefined (fewer than two words, or no drop varies)
            if (Double.isNaN(e.faithfulness().leaveOneOutSpearman())) {
                f.putNull("loo_correlation");
            } else {
                f.put("loo_correlation", e.faithfulness().leaveOneOutSpearman());
            }
            f.put("evaluations", e.faithfulness().evaluations());
        }
        o.put("target", e.target());
        if (e.contrast() != null) {
            o.put("contrast_with", e.contrast());
        }
        // nobody should read an estimate as an exact answer
        o.put("approximate", e.approximate());
        if (e.approximate()) {
            o.put("approximation", e.approximation());
        }
        return o;
    }

    /** Encodes an infer request, as a client of another V2 server sends it. */
    public static byte[] encodeInferRequest(String id, List<Tensor> inputs, List<String> outputs) {
        return Json.stream(g -> {
            g.writeStartObject();
            if (id != null) {
                g.writeStringProperty("id", id);
            }
            g.writeArrayPropertyStart("inputs");
            for (Tensor t : inputs) {
                writeTensor(g, t, -1);
            }
            g.writeEndArray();
            if (!outputs.isEmpty()) {
                g.writeArrayPropertyStart("outputs");
                for (String name : outputs) {
                    g.writeStartObject();
                    g.writeStringProperty("name", name);
                    g.writeEndObject();
                }
                g.writeEndArray();
            }
            g.writeEndObject();
        });
    }

    /**
     * Decodes an infer response from another V2 server.
     *
     * @throws InvalidInputException when the body is not a V2 infer response
     */
    public static InferenceResponse decodeInferResponse(byte[] body) {
        ObjectNode root = Json.parseObject(body);
        JsonNode outputs = root.get("outputs");
        if (outputs == null || !outputs.isArray()) {
            throw new InvalidInputException("Response has no \"outputs\" array");
        }
        List<Tensor> tensors = new ArrayList<>();
        for (JsonNode out : outputs) {
            tensors.add(decodeTensor(out));
        }
        JsonNode model = root.get("model_name");
        JsonNode version = root.get("model_version");
        JsonNode id = root.get("id");
        return new InferenceResponse(id == null ? null : id.asString(), model == null ? null : model.asString(),
                version == null ? null : version.asString(), tensors, Map.of());
    }
}
