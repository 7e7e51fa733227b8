package dev.igate.explainer;

import static dev.igate.predictor.onnx.OnnxProtos.floats;
import static dev.igate.predictor.onnx.OnnxProtos.intAttr;
import static dev.igate.predictor.onnx.OnnxProtos.ints;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.igate.predictor.onnx.OnnxProtos;

/**
 * A dynamically quantized model's quantization emulated row by row, for the explainer's gradient
 * graph only: ONNX Runtime's DynamicQuantizeLinear takes one scale and zero point for its whole
 * batch tensor, so path points batched together would be quantized with each other's ranges.
 * Here each activation an int8 product reads is quantized with its own row's range, in float
 * (the integers' values times their scale, as the products use them), and the products are float
 * MatMuls of those values; so rows batch without depending on each other, and each row computes
 * what it computes alone, up to float rounding.
 *
 * <p>Gradients pass each emulated quantization straight through: an activation x becomes
 * {@code x + stop(q(x) - x)}, whose derivative is the identity while its value is q(x).
 *
 * <p>Covers the forms ONNX Runtime's optimizer leaves (DynamicQuantizeMatMul, and
 * MatMulIntegerToFloat of DynamicQuantizeLinear outputs); a graph with another consumer of a
 * DynamicQuantizeLinear (the unfused MatMulInteger, say) is left alone ({@link #emulate} answers null).
 */
final class QuantizationEmulation {

    /** Names of the Identity nodes that stop gradients ({@link GradientBuilder} reads them as non-differentiable). */
    static final String STOP_GRADIENT = "/explainer/stop_gradient/";

    private final GraphWriter w;
    private final Map<String, TensorProto> constants = new HashMap<>();
    private final Map<String, NodeProto> quantizers = new HashMap<>();
    private final Map<String, String> emulated = new HashMap<>();

    private QuantizationEmulation(GraphProto.Builder target, GraphProto source, int opset) {
        this.w = new GraphWriter(target, opset);
        source.getInitializerList().forEach(t -> constants.put(t.getName(), t));
        for (NodeProto n : source.getNodeList()) {
            if (n.getOpType().equals("DynamicQuantizeLinear")) {
                n.getOutputList().forEach(o -> quantizers.put(o, n));
            }
        }
    }

    /** The model with its dynamic quantization emulated row by row, or null when it has none or a form not covered. */
    static ModelProto emulate(ModelProto model) {
        GraphProto source = model.getGraph();
        boolean dynamic = source.getNodeList().stream().anyMatch(n -> n.getOpType().equals("DynamicQuantizeLinear")
                || n.getOpType().equals("DynamicQuantizeMatMul"));
        if (!dynamic) {
            return null;
        }
        GraphProto.Builder target = source.toBuilder();
        QuantizationEmulation e = new QuantizationEmulation(target, source, GradientBuilder.opset(model));
        target.clearNode();
        for (NodeProto n : source.getNodeList()) {
            switch (n.getOpType()) {
                case "DynamicQuantizeLinear" -> {
                    // its consumers are rewritten below; any other consumer is not covered
                    for (NodeProto m : source.getNodeList()) {
                        boolean reads = m.getInputList().stream().anyMatch(n.getOutputList()::contains);
                        if (reads && !m.getOpType().equals("MatMulIntegerToFloat") && !m.getOpType().equals("DynamicQuantizeMatMul")) {
                            return null;
                        }
                    }
                }
                case "DynamicQuantizeMatMul" -> {
                    String b = e.operand(n.getInput(1), input(n, 3), n.getInput(2));
                    if (b == null) {
                        return null;
                    }
                    e.product(e.fakeQuantized(n.getInput(0)), b, input(n, 4), n.getOutput(0));
                }
                case "MatMulIntegerToFloat" -> {
                    NodeProto quantizer = e.quantizers.get(n.getInput(0));
                    String b = e.operand(n.getInput(1), input(n, 5), n.getInput(3));
                    if (quantizer == null || b == null) {
                        return null;
                    }
                    e.product(e.fakeQuantized(quantizer.getInput(0)), b, input(n, 6), n.getOutput(0));
                }
                default -> target.addNode(n);
            }
        }
        return model.toBuilder().setGraph(target).build();
    }

    private static String input(NodeProto n, int i) {
        return n.getInputCount() > i && !n.getInput(i).isEmpty() ? n.getInput(i) : null;
    }

    /**
     * The float values of a product's right operand: a constant int8/uint8 weight dequantized
     * here (a new float constant), or a DynamicQuantizeLinear output emulated row by row; null otherwise.
     */
    private String operand(String q, String zero, String scale) {
        NodeProto quantizer = quantizers.get(q);
        if (quantizer != null) {
            return fakeQuantized(quantizer.getInput(0));
        }
        TensorProto codes = constants.get(q);
        TensorProto scales = constants.get(scale);
        TensorProto zeros = zero == null ? null : constants.get(zero);
        if (codes == null || scales == null || codes.getDimsCount() != 2 || zero != null && zeros == null) {
            return null;
        }
        int rows = (int) codes.getDims(0);
        int cols = (int) codes.getDims(1);
        int[] c = OnnxProtos.byteValues(codes);
        int[] z = zeros == null ? new int[1] : OnnxProtos.byteValues(zeros);
        float[] s = OnnxProtos.floatValues(scales);
        if (c == null || z == null) {
            return null;
        }
        float[] values = new float[rows * cols];
        for (int i = 0; i < values.length; i++) {
            int col = i % cols;
            // per tensor, or per output column
            values[i] = (c[i] - z[z.length == 1 ? 0 : col]) * s[s.length == 1 ? 0 : col];
        }
        String name = w.fresh("dequantized_weight");
        w.graph().addInitializer(floats(name, new long[] {rows, cols}, values));
        return name;
    }


    private void product(String a, String b, String bias, String out) {
        String y = w.op("MatMul", a, b);
        if (bias != null) {
            y = w.op("Add", y, bias);
        }
        w.graph().addNode(NodeProto.newBuilder().setOpType("Identity").setName(out + "/emulated").addInput(y).addOutput(out));
    }

    /**
     * x quantized as DynamicQuantizeLinear quantizes it, but with each row's own range (rows along
     * axis 0), as the values the integers stand for; straight through for gradients.
     */
    private String fakeQuantized(String x) {
        return emulated.computeIfAbsent(x, k -> {
            String stopped = stop(x);
            String flat = w.op("Reshape", stopped, w.int64s(0, -1));
            // range including 0, scale over uint8's 255 steps, zero point rounded half to even and saturated
            String low = w.op("Min", reduce("ReduceMin", flat), w.scalar(0f));
            String high = w.op("Max", reduce("ReduceMax", flat), w.scalar(0f));
            String range = w.op("Div", w.op("Sub", high, low), w.scalar(255f));
            String scale = w.op("Where", List.of(w.op("Equal", range, w.scalar(0f)), w.scalar(1f), range));
            String zero = w.op("Clip", List.of(w.op("Round", w.op("Div", w.op("Neg", low), scale)), w.scalar(0f), w.scalar(255f)));
            String codes = w.op("Clip", List.of(w.op("Add", w.op("Round", w.op("Div", flat, scale)), zero), w.scalar(0f), w.scalar(255f)));
            String values = w.op("Reshape", w.op("Mul", w.op("Sub", codes, zero), scale), w.shape(stopped));
            // x + stop(q(x) - x): the value q(x), the gradient of x
            return w.op("Add", x, stop(w.op("Sub", values, stopped)));
        });
    }

    private String reduce(String op, String flat) {
        if (w.opset() >= 18) {
            return w.op(op, List.of(flat, w.int64s(1)), intAttr("keepdims", 1));
        }
        return w.op(op, List.of(flat), ints("axes", 1), intAttr("keepdims", 1));
    }

    private String stop(String x) {
        String out = w.fresh("stopped");
        w.graph().addNode(NodeProto.newBuilder().setOpType("Identity").setName(STOP_GRADIENT + out).addInput(x).addOutput(out));
        return out;
    }
}
