package dev.igate.demo;

import ai.onnx.proto.OnnxMl.ModelProto;
import dev.igate.predictor.onnx.Int8Quantizer;

/**
 * Int8 dynamic quantization of a float model for test fixtures and benchmarks, in the form ONNX
 * Runtime's {@code quantize_dynamic} writes: {@link Int8Quantizer} (what serving uses), with the
 * embedding tables quantized too, as published int8 models have them.
 */
public final class DynamicQuantizer {

    private DynamicQuantizer() {
    }

    /** The model quantized with a scale per weight tensor (ONNX Runtime's default). */
    public static ModelProto quantize(ModelProto model) {
        return quantize(model, false);
    }

    /**
     * The quantized model, weights with a scale per tensor or per output column, embedding tables
     * as uint8; the opset is raised to 11 if lower (DynamicQuantizeLinear's first).
     */
    public static ModelProto quantize(ModelProto model, boolean perChannel) {
        return Int8Quantizer.quantize(model, new Int8Quantizer.Options(perChannel, true, Int8Quantizer.Activations.PER_TENSOR));
    }
}
