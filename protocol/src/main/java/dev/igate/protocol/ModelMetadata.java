package dev.igate.protocol;

import java.util.List;
import java.util.Map;

/**
 * What V2 model metadata reports about one model version.
 *
 * @param name       model name
 * @param versions   every version of the model the server knows
 * @param platform   e.g. {@code onnxruntime_onnx}
 * @param inputs     tensors the model takes
 * @param outputs    tensors the model returns
 * @param parameters extra facts: execution provider, labels, text input support
 */
public record ModelMetadata(String name, List<String> versions, String platform, List<TensorMetadata> inputs,
                            List<TensorMetadata> outputs, Map<String, Object> parameters) {
}
