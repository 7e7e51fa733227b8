package dev.igate.explainer;

import static dev.igate.predictor.onnx.OnnxProtos.bytes;
import static dev.igate.predictor.onnx.OnnxProtos.floats;
import static dev.igate.predictor.onnx.OnnxProtos.intAttr;

import java.util.List;
import java.util.Random;

import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import org.junit.jupiter.api.Test;

/**
 * Straight-through rules of the quantization operators: the gradient of a quantized graph must
 * equal the gradient of the float graph in which each quantization step is the identity and each
 * integer weight is replaced by the float values it stands for (that graph's rules are checked
 * against finite differences in {@link GradientRulesTests}).
 */
class QuantizedGradientTests {

    static final int K = 4;
    static final int N = 5;

    /** An int8 [K, N] weight with per-column scales and zero points, and its float values. */
    record Weight(byte[] codes, float[] scales, byte[] zeros, float[] values) {

        static Weight random() {
            Random r = new Random(11);
            byte[] codes = new byte[K * N];
            float[] scales = new float[N];
            byte[] zeros = new byte[N];
            float[] values = new float[K * N];
            for (int c = 0; c < N; c++) {
                scales[c] = 0.01f + 0.02f * c;
                zeros[c] = (byte) (c - 2);
            }
            for (int i = 0; i < codes.length; i++) {
                codes[i] = (byte) (r.nextInt(255) - 127);
                values[i] = (codes[i] - zeros[i % N]) * scales[i % N];
            }
            return new Weight(codes, scales, zeros, values);
        }

        GradientCheck addTo(GradientCheck check) {
            return check.initializer(bytes("w_q", TensorProto.DataType.INT8, new long[] {K, N}, codes))
                    .initializer(floats("w_scale", new long[] {N}, scales))
                    .initializer(bytes("w_zero", TensorProto.DataType.INT8, new long[] {N}, zeros));
        }

        GradientCheck floatReference(int opset) {
            return new GradientCheck(opset).input("x", 2, 3, K).initializer(floats("w", new long[] {K, N}, values))
                    .node("MatMul", List.of("x", "w"), "out");
        }
    }

    static NodeProto node(String op, String domain, List<String> in, List<String> out) {
        return NodeProto.newBuilder().setOpType(op).setDomain(domain).setName(op + "_" + out.get(0))
                .addAllInput(in).addAllOutput(out).build();
    }

    @Test
    void dynamicQuantizeLinearThenMatMulIntegerAsOnnxRuntimesDynamicQuantizerWritesIt() throws Exception {
        Weight w = Weight.random();
        GradientCheck quantized = w.addTo(new GradientCheck(13).input("x", 2, 3, K))
                .node(node("DynamicQuantizeLinear", "", List.of("x"), List.of("x_q", "x_scale", "x_zero")), "x_q")
                .node("MatMulInteger", List.of("x_q", "w_q", "x_zero", "w_zero"), "product")
                .node("Cast", List.of("product"), "product_float", intAttr("to", TensorProto.DataType.FLOAT_VALUE))
                .node("Mul", List.of("x_scale", "w_scale"), "scale")
                .node("Mul", List.of("product_float", "scale"), "out");
        quantized.checkAgainst(w.floatReference(13), "x");
    }

    @Test
    void matMulIntegerOfTwoQuantizedActivationsPassesToBoth() throws Exception {
        // reference: the product of one operand with the other's dequantized (forward) values
        GradientCheck quantized = new GradientCheck(13).input("x", 2, 3, K).input("y", 2, K, N)
                .node(node("DynamicQuantizeLinear", "", List.of("x"), List.of("x_q", "x_scale", "x_zero")), "x_q")
                .node(node("DynamicQuantizeLinear", "", List.of("y"), List.of("y_q", "y_scale", "y_zero")), "y_q")
                .node("MatMulInteger", List.of("x_q", "y_q", "x_zero", "y_zero"), "product")
                .node("Cast", List.of("product"), "product_float", intAttr("to", TensorProto.DataType.FLOAT_VALUE))
                .node("Mul", List.of("x_scale", "y_scale"), "scale")
                .node("Mul", List.of("product_float", "scale"), "out");
        for (String wrt : List.of("x", "y")) {
            String other = wrt.equals("x") ? "y" : "x";
            GradientCheck reference = new GradientCheck(13).input("x", 2, 3, K).input("y", 2, K, N)
                    .node(node("DynamicQuantizeLinear", "", List.of(other), List.of("o_q", "o_scale", "o_zero")), "o_q")
                    .node("DequantizeLinear", List.of("o_q", "o_scale", "o_zero"), "o_float")
                    .node("MatMul", wrt.equals("x") ? List.of("x", "o_float") : List.of("o_float", "y"), "out");
            quantized.checkAgainst(reference, wrt);
        }
    }

    @Test
    void perTokenActivationsAsServingQuantizesThemWithTheirStepsTakenAsConstants() throws Exception {
        // weights whose int8 codes and per-column scales the quantizer finds again exactly (each column's
        // largest code 127), so that the float graph is the reference
        Random r = new Random(5);
        float[] w = new float[K * N];
        float[] wt = new float[N * K];
        for (int i = 0; i < w.length; i++) {
            int column = i % N;
            int code = i / N == column % K ? 127 : r.nextInt(255) - 127;
            w[i] = code * (0.01f + 0.02f * column);
            wt[column * K + i / N] = w[i];
        }
        for (int opset : new int[] {13, 18}) {
            GradientCheck matmul = new GradientCheck(opset).input("x", 2, 3, K).initializer(floats("w", new long[] {K, N}, w))
                    .node("MatMul", List.of("x", "w"), "out");
            // and a Linear layer's Gemm (weight transposed, a bias), as classifier heads have it
            GradientCheck gemm = new GradientCheck(opset).input("x", 3, K).initializer(floats("wt", new long[] {N, K}, wt))
                    .initializer(floats("bias", new long[] {N}, new float[] {0.5f, -1f, 2f, 0f, 1f}))
                    .node("Gemm", List.of("x", "wt", "bias"), "out", intAttr("transB", 1));
            for (GradientCheck reference : List.of(matmul, gemm)) {
                reference.quantized(dev.igate.predictor.onnx.Int8Quantizer.Options.SERVING).checkAgainst(reference, "x");
            }
        }
    }

    @Test
    void quantizationWrittenOutWithRoundAndACastIsStraightThroughWithItsStepConstant() throws Exception {
        // per token: step = max |x| / 127, codes = uint8(round(x / step) + 128), then the int8 product rescaled
        Weight w = Weight.random();
        GradientCheck quantized = w.addTo(new GradientCheck(13).input("x", 2, 3, K))
                .initializer(floats("steps", new long[0], new float[] {127f}))
                .initializer(floats("middle", new long[0], new float[] {128f}))
                .initializer(bytes("x_zero", TensorProto.DataType.UINT8, new long[0], new byte[] {(byte) 128}))
                .node("Abs", List.of("x"), "magnitude")
                .node("ReduceMax", List.of("magnitude"), "largest", dev.igate.predictor.onnx.OnnxProtos.ints("axes", -1))
                .node("Div", List.of("largest", "steps"), "step")
                .node("Div", List.of("x", "step"), "steps_of")
                .node("Round", List.of("steps_of"), "rounded")
                .node("Add", List.of("rounded", "middle"), "shifted")
                .node("Cast", List.of("shifted"), "x_q", intAttr("to", TensorProto.DataType.UINT8_VALUE))
                .node("MatMulInteger", List.of("x_q", "w_q", "x_zero", "w_zero"), "product")
                .node("Cast", List.of("product"), "product_float", intAttr("to", TensorProto.DataType.FLOAT_VALUE))
                .node("Mul", List.of("product_float", "step"), "per_token")
                .node("Mul", List.of("per_token", "w_scale"), "out");
        quantized.checkAgainst(w.floatReference(13), "x");
    }

    @Test
    void quantizeDequantizePairsPerTensorAndPerAxisAreTheIdentity() throws Exception {
        // a linear consumer, so the gradient does not depend on where it is taken: quantized or not
        float[] c = {0.5f, -1.5f, 2f, 3f};
        GradientCheck qdq = new GradientCheck(13).input("x", 2, 3, K)
                .initializer(floats("s", new long[] {3}, new float[] {0.02f, 0.05f, 0.1f}))
                .initializer(bytes("z", TensorProto.DataType.UINT8, new long[] {3}, new byte[] {(byte) 128, 100, (byte) 140}))
                .initializer(floats("s1", new long[0], new float[] {0.03f}))
                .initializer(floats("c", new long[] {K}, c))
                .node("QuantizeLinear", List.of("x", "s", "z"), "x_q", intAttr("axis", 1))
                .node("DequantizeLinear", List.of("x_q", "s", "z"), "x_d", intAttr("axis", 1))
                .node("QuantizeLinear", List.of("x_d", "s1"), "x_q1")
                .node("DequantizeLinear", List.of("x_q1", "s1"), "x_d1")
                .node("Mul", List.of("x_d1", "c"), "out");
        GradientCheck reference = new GradientCheck(13).input("x", 2, 3, K)
                .initializer(floats("c", new long[] {K}, c))
                .node("Mul", List.of("x", "c"), "out");
        qdq.checkAgainst(reference, "x");
    }

    @Test
    void onnxRuntimesFusedDynamicQuantizeMatMulAndMatMulIntegerToFloat() throws Exception {
        Weight w = Weight.random();
        GradientCheck fused = w.addTo(new GradientCheck(13).input("x", 2, 3, K))
                .node(node("DynamicQuantizeMatMul", "com.microsoft", List.of("x", "w_q", "w_scale", "w_zero"), List.of("out")), "out");
        fused.checkAgainst(w.floatReference(13), "x");

        // an activation's integers as B, as ONNX Runtime fuses attention's quantized products
        GradientCheck activations = new GradientCheck(13).input("x", 2, 3, K).input("y", 2, K, N)
                .node(node("DynamicQuantizeLinear", "", List.of("y"), List.of("y_q", "y_scale", "y_zero")), "y_q")
                .node(node("DynamicQuantizeMatMul", "com.microsoft", List.of("x", "y_q", "y_scale", "y_zero"), List.of("out")), "out");
        GradientCheck reference = new GradientCheck(13).input("x", 2, 3, K).input("y", 2, K, N)
                .node(node("DynamicQuantizeLinear", "", List.of("y"), List.of("y_q", "y_scale", "y_zero")), "y_q")
                .node("DequantizeLinear", List.of("y_q", "y_scale", "y_zero"), "y_float")
                .node("MatMul", List.of("x", "y_float"), "out");
        activations.checkAgainst(reference, "x");
        GradientCheck referenceForY = new GradientCheck(13).input("x", 2, 3, K).input("y", 2, K, N)
                .node("MatMul", List.of("x", "y"), "out");
        activations.checkAgainst(referenceForY, "y");

        GradientCheck toFloat = w.addTo(new GradientCheck(13).input("x", 2, 3, K))
                .node(node("DynamicQuantizeLinear", "", List.of("x"), List.of("x_q", "x_scale", "x_zero")), "x_q")
                .node(node("MatMulIntegerToFloat", "com.microsoft",
                        List.of("x_q", "w_q", "x_scale", "w_scale", "x_zero", "w_zero"), List.of("out")), "out");
        toFloat.checkAgainst(w.floatReference(13), "x");
    }
}
