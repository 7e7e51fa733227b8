package dev.igate.protocol;

import java.util.List;
import java.util.Map;

/**
 * The internal request every protocol handler translates its wire format into.
 *
 * @param id               the client's request id, echoed in the response (may be null)
 * @param model            model name
 * @param version          requested version, or null for the model's default
 * @param inputs           input tensors in request order, names unique
 * @param requestedOutputs names of the outputs the client asked for; empty means the default set
 * @param parameters       request-level parameters (strings, numbers, booleans)
 */
public record InferenceRequest(String id, String model, String version, List<Tensor> inputs,
                               List<String> requestedOutputs, Map<String, Object> parameters) {

    public InferenceRequest {
        inputs = List.copyOf(inputs);
        requestedOutputs = List.copyOf(requestedOutputs);
        parameters = Map.copyOf(parameters);
    }

    /** A boolean parameter, accepting JSON booleans and the strings "true"/"false". */
    public boolean flag(String key) {
        Object v = parameters.get(key);
        return Boolean.TRUE.equals(v) || "true".equalsIgnoreCase(String.valueOf(v));
    }
}
