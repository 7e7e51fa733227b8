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
 * @param classifications  Triton's classification extension: outputs to return as their top k classes
 *                         ({@code "score:index:label"} strings), by name
 */
public record InferenceRequest(String id, String model, String version, List<Tensor> inputs,
                               List<String> requestedOutputs, Map<String, Object> parameters, Set<String> binaryOutputs,
                               Map<String, Integer> classifications) {

    /** The parameters a requested output may carry: binary tensor data, and Triton's classification. */
    public static final List<String> OUTPUT_PARAMETERS = List.of("binary_data", "classification");

    /** In {@link #binaryOutputs()}: every output is binary ({@code binary_data_output: true}). */
    public static final String ALL_OUTPUTS = "*";

    public InferenceRequest {
        inputs = List.copyOf(inputs);
        requestedOutputs = List.copyOf(requestedOutputs);
        parameters = Map.copyOf(parameters);
        binaryOutputs = Set.copyOf(binaryOutputs);
        classifications = Map.copyOf(classifications);
    }

    public InferenceRequest(String id, String model, String version, List<Tensor> inputs, List<String> requestedOutputs,
                            Map<String, Object> parameters, Set<String> binaryOutputs) {
        this(id, model, version, inputs, requestedOutputs, parameters, binaryOutputs, Map.of());
    }

    /**
     * Checks one requested output's parameters and returns its classification count, or 0.
     *
     * @throws InvalidInputException for a parameter the server does not know, or a count that is not a positive integer
     */
    public static int outputParameters(String output, Map<String, Object> parameters) {
        for (String key : parameters.keySet()) {
            if (!OUTPUT_PARAMETERS.contains(key)) {
                throw new InvalidInputException("Output " + output + " has the parameter " + key + ", which this server does not know"
                        + " (known: " + String.join(", ", OUTPUT_PARAMETERS) + ")");
            }
        }
        Object k = parameters.get("classification");
        if (k == null) {
            return 0;
        }
        if (!(k instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue()) || n.longValue() < 1 || n.longValue() > 1_000_000) {
            throw new InvalidInputException("Output " + output + ": classification must be a positive integer, was " + k);
        }
        return n.intValue();
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
