package dev.igate.predictor;

import java.util.Set;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;

/**
 * Whether a model's answer for one row depends on the other rows run with it. Dynamic
 * quantization (ONNX Runtime's int8 dynamic quantizer emits DynamicQuantizeLinear) takes one scale
 * for the whole batch tensor, so a text's logits move with what was batched beside it: measured
 * 0.44 on an int8 MiniLM. Such a model must not batch different clients' requests together.
 */
public final class BatchDependence {

    /** Operators whose output for a row depends on every row of their input. */
    static final Set<String> BATCH_WIDE = Set.of("DynamicQuantizeLinear", "DynamicQuantizeMatMul", "DynamicQuantizeLSTM");

    private BatchDependence() {
    }

    /** The first batch-wide operator of the model, or null when rows are independent of each other. */
    public static String batchWideOperator(ModelProto model) {
        for (NodeProto n : model.getGraph().getNodeList()) {
            if (BATCH_WIDE.contains(n.getOpType())) {
                return n.getOpType() + " (node " + n.getName() + ")";
            }
        }
        return null;
    }
}
