package dev.igate.protocol;

import java.util.List;
import java.util.Map;

/**
 * The internal response the protocol handlers encode back to their wire format.
 *
 * @param id         the request's id (may be null)
 * @param model      model name
 * @param version    the version that served the request
 * @param outputs    output tensors
 * @param parameters response-level parameters
 */
public record InferenceResponse(String id, String model, String version, List<Tensor> outputs,
                                Map<String, Object> parameters) {

    public InferenceResponse {
        outputs = List.copyOf(outputs);
        parameters = Map.copyOf(parameters);
    }
}
