package dev.igate.protocol;

import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The internal request every protocol handler translates its wire format into.
 *
 * @param id               the client's request id, echoed in the response (may be null)
 * @param model            model name
 * @param version          requested version, or null for the model's default
 * @param inputs           input tensors in request order, names unique
 * @param requestedOutputs names of the outputs the client asked for; empty means the default set
 * @param parameters       request-level parameters (strings, numbers, booleans)
 * @param binaryOutputs    outputs to return as binary tensor data; {@link #ALL_OUTPUTS} for all of them
 */
public record InferenceRequest(String id, String model, String version, List<Tensor> inputs,
                               List<String> requestedOutputs, Map<String, Object> parameters, Set<String> binaryOutputs) {

    /** In {@link #binaryOutputs()}: every output is binary ({@code binary_data_output: true}). */
    public static final String ALL_OUTPUTS = "*";

    public InferenceRequest {
        inputs = List.copyOf(inputs);
        requestedOutputs = List.copyOf(requestedOutputs);
        parameters = Map.copyOf(parameters);
        binaryOutputs = Set.copyOf(binaryOutputs);
    }

    public InferenceRequest(String id, String model, String version, List<Tensor> inputs, List<String> requestedOutputs,
                            Map<String, Object> parameters) {
        this(id, model, version, inputs, requestedOutputs, parameters, Set.of());
    }

    /** Whether an output goes back as binary tensor data. */
    public boolean binary(String output) {
        return binaryOutputs.contains(ALL_OUTPUTS) || binaryOutputs.contains(output);
    }

    /** A boolean parameter, accepting JSON booleans and the strings "true"/"false". */
    public boolean flag(String key) {
        Object v = parameters.get(key);
        return Boolean.TRUE.equals(v) || "true".equalsIgnoreCase(String.valueOf(v));
    }
}
