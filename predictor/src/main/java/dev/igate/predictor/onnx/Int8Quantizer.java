package dev.igate.predictor.onnx;

import static dev.igate.predictor.onnx.OnnxProtos.bytes;
import static dev.igate.predictor.onnx.OnnxProtos.floats;
import static dev.igate.predictor.onnx.OnnxProtos.intAttr;
import static dev.igate.predictor.onnx.OnnxProtos.node;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;

/**
 * Int8 dynamic quantization of a float model, in the form ONNX Runtime's {@code quantize_dynamic}
 * writes (what {@code igate.models.<name>.quantize: int8} serves, and the int8 models people
 * publish):
 * <ul>
 * <li>each MatMul, and each Gemm with a constant weight (alpha 1, A not transposed): its
 * activations through DynamicQuantizeLinear (uint8, scale and zero point per run, over the whole
 * batch tensor), a constant weight as int8 (symmetric, per tensor, or per output column with
 * {@code perChannel} as {@code quantize_dynamic(per_channel=True)}; a Gemm's transposed weight is
 * stored transposed back), the product by MatMulInteger, then Cast to float and Mul by the two
 * scales, and a Gemm's bias added (times beta);</li>
 * <li>or, with {@link Activations#PER_TOKEN} (what serving uses), the activations of each product
 * with a constant weight quantized per token (each row of their last axis: symmetric, scale its
 * largest magnitude over 127, stored as uint8 around 128, the form ONNX Runtime's fast int8 kernels
 * take), the weights as above, the product by ONNX Runtime's MatMulIntegerToFloat (com.microsoft)
 * times the token's scale; products of two activations (attention's) stay in float. A row's
 * answer then depends on that row alone, so the model batches as its float form does, where the
 * per-run form's one scale per batch tensor moves a text's logits with what runs beside it.</li>
 * <li>with {@code embeddings}, each Gather from a 2-D float constant (the embedding tables): the
 * table as uint8 (per tensor, asymmetric), the rows looked up then DequantizeLinear'd. Served
 * models keep their word table in float: its rows are not a product's operand, so int8 saves
 * memory there and no time, and explanations start from those rows.</li>
 * </ul>
 */
public final class Int8Quantizer {

    /** How the activations a product reads are quantized. */
    public enum Activations {
        /** DynamicQuantizeLinear: one scale and zero point per run over the whole batch tensor (ONNX Runtime's form). */
        PER_TENSOR,
        /** A scale per token (row of the last axis), computed by the graph: rows independent of each other. */
        PER_TOKEN
    }

    /**
     * @param perChannel  a scale per output column of each weight (else one per tensor)
     * @param embeddings  whether the embedding tables become uint8 too
     * @param activations how activations are quantized
     */
    public record Options(boolean perChannel, boolean embeddings, Activations activations) {
        /** What serving uses: per channel, the word table left in float, activations per token. */
        public static final Options SERVING = new Options(true, false, Activations.PER_TOKEN);
    }

    /**
     * The version of the graphs this class writes, part of a cached copy's name
     * ({@code igate.models.<name>.quantize: int8}): raise it whenever the written form changes, or
     * servers keep serving copies of the old form from their cache (Int8QuantizerTests records each
     * form's fingerprint). 2: per-token activations quantized once per tensor through QuantizeLinear,
     * products as MatMulIntegerToFloat; copies named without a form are of form 1 (per-token products as
     * MatMulInteger, Cast and Mul).
     */
    public static final int FORM = 2;

    /** ONNX Runtime's contrib operators' domain. */
    static final String CONTRIB = "com.microsoft";

    /** Prefix of the per-token quantization's shared constants. */
    static final String PER_TOKEN = "int8_per_token_";

    private final GraphProto.Builder graph;
    private final Map<String, TensorProto> constants = new HashMap<>();
    private final Options options;
    private final int opset;
    /** Each activation's quantization, made once for all the products that read it (attention's query, key and value). */
    private final Map<String, String[]> activations = new HashMap<>();
    /** The per-token quantization's constants, added once. */
    private boolean perTokenConstants;
    private int fresh;
    private int quantized;

    private Int8Quantizer(GraphProto graph, Options options, int opset) {
        this.graph = graph.toBuilder().clearNode();
        this.options = options;
        this.opset = opset;
        graph.getInitializerList().forEach(t -> constants.put(t.getName(), t));
    }

    /**
     * The quantized model; the opset is raised to 11 if lower (DynamicQuantizeLinear's first).
     *
     * @throws IllegalArgumentException when the model has no MatMul or Gemm to quantize
     */
    public static ModelProto quantize(ModelProto model, Options options) {
        int opset = Math.max(11, model.getOpsetImportList().stream()
                .filter(o -> o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx"))
                .mapToInt(o -> (int) o.getVersion()).max().orElse(11));
        Int8Quantizer q = new Int8Quantizer(model.getGraph(), options, opset);
        for (NodeProto n : model.getGraph().getNodeList()) {
            q.rewrite(n);
        }
        if (q.quantized == 0) {
            throw new IllegalArgumentException("the model has no MatMul or Gemm with a float weight to quantize");
        }
        q.dropUnused();
        ModelProto.Builder out = model.toBuilder().setGraph(q.graph);
        if (options.activations() == Activations.PER_TOKEN && out.getOpsetImportList().stream().noneMatch(o -> o.getDomain().equals(CONTRIB))) {
            out.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(CONTRIB).setVersion(1));
        }
        for (int i = 0; i < out.getOpsetImportCount(); i++) {
            OperatorSetIdProto o = out.getOpsetImport(i);
            if ((o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx")) && o.getVersion() < 11) {
                out.setOpsetImport(i, o.toBuilder().setVersion(11));
            }
        }
        return out.build();
    }

    private String name(String base) {
        return base + "_q" + fresh++;
    }

    private boolean floatMatrix(String tensor) {
        TensorProto t = constants.get(tensor);
        return t != null && t.getDimsCount() == 2 && t.getDataType() == TensorProto.DataType.FLOAT_VALUE;
    }

    private void rewrite(NodeProto n) {
        boolean standard = n.getDomain().isEmpty() || n.getDomain().equals("ai.onnx");
        if (standard && n.getOpType().equals("MatMul") && options.activations() == Activations.PER_TOKEN && !floatMatrix(n.getInput(1))) {
            // a product of two activations (attention's): left in float, so rows stay independent
            graph.addNode(n);
        } else if (standard && n.getOpType().equals("MatMul")) {
            matmul(n.getInput(0), n.getInput(1), false, n.getOutput(0));
        } else if (standard && n.getOpType().equals("Gemm") && quantizableGemm(n)) {
            gemm(n);
        } else if (options.embeddings() && standard && n.getOpType().equals("Gather") && floatMatrix(n.getInput(0))) {
            gather(n);
        } else {
            graph.addNode(n);
        }
    }

    private static float floatAttribute(NodeProto n, String name, float otherwise) {
        return n.getAttributeList().stream().filter(a -> a.getName().equals(name)).findFirst().map(AttributeProto::getF).orElse(otherwise);
    }

    private static long intAttribute(NodeProto n, String name, long otherwise) {
        return n.getAttributeList().stream().filter(a -> a.getName().equals(name)).findFirst().map(AttributeProto::getI).orElse(otherwise);
    }

    /** A Gemm this rewrites: A as it is, alpha 1, B a float constant (a bias of beta times C stays a float Add). */
    private boolean quantizableGemm(NodeProto n) {
        return intAttribute(n, "transA", 0) == 0 && floatAttribute(n, "alpha", 1f) == 1f && floatMatrix(n.getInput(1));
    }

    private void gemm(NodeProto n) {
        boolean bias = n.getInputCount() > 2 && !n.getInput(2).isEmpty();
        String product = bias ? name(n.getOutput(0)) : n.getOutput(0);
        matmul(n.getInput(0), n.getInput(1), intAttribute(n, "transB", 0) == 1, product);
        if (bias) {
            float beta = floatAttribute(n, "beta", 1f);
            String c = n.getInput(2);
            if (beta != 1f) {
                String scaled = name(c);
                graph.addInitializer(floats(scaled + "_beta", new long[0], new float[] {beta}));
                graph.addNode(node("Mul", scaled + "_node", List.of(c, scaled + "_beta"), List.of(scaled)));
                c = scaled;
            }
            graph.addNode(node("Add", product + "_bias", List.of(product, c), List.of(n.getOutput(0))));
        }
    }

    /** An activation quantized as the options say, once: names of its uint8 values, scale and zero point. */
    private String[] activation(String x) {
        String[] known = activations.get(x);
        if (known == null) {
            known = options.activations() == Activations.PER_TOKEN ? perToken(x) : dynamic(x);
            activations.put(x, known);
        }
        return known;
    }

    /** DynamicQuantizeLinear of an activation: names of its uint8 values, scale and zero point. */
    private String[] dynamic(String x) {
        String q = name(x);
        String[] out = {q, q + "_scale", q + "_zero_point"};
        graph.addNode(node("DynamicQuantizeLinear", q + "_node", List.of(x), List.of(out)));
        return out;
    }

    /**
     * x quantized per token: {@code scale = max(|x| over the last axis, 1e-8) / 127}, values
     * {@code round(x / scale) + 128} as uint8 (so within 1..255), zero point 128: names of the
     * values, the scale ([..., 1]) and the zero point. (Measured on the demo model, 16 tokens,
     * batches of 32: QuantizeLinear for the rounding, shift and cast ~5% faster than Round, Add and
     * Cast; ReduceMax/ReduceMin for Abs and ReduceMax, and x times 127 / range for x / scale, within
     * the noise.)
     */
    private String[] perToken(String x) {
        String q = name(x);
        if (!perTokenConstants) {
            perTokenConstants = true;
            graph.addInitializer(OnnxProtos.longs(PER_TOKEN + "axes", new long[] {1}, new long[] {-1}));
            graph.addInitializer(floats(PER_TOKEN + "floor", new long[0], new float[] {1e-8f}));
            graph.addInitializer(floats(PER_TOKEN + "steps", new long[0], new float[] {127f}));
            graph.addInitializer(floats(PER_TOKEN + "one", new long[0], new float[] {1f}));
            graph.addInitializer(bytes(PER_TOKEN + "zero_point", TensorProto.DataType.UINT8, new long[0], new byte[] {(byte) 128}));
        }
        graph.addNode(node("Abs", q + "_abs", List.of(x), List.of(q + "_magnitude")));
        if (opset >= 18) {
            graph.addNode(node("ReduceMax", q + "_max", List.of(q + "_magnitude", PER_TOKEN + "axes"), List.of(q + "_largest"),
                    intAttr("keepdims", 1)));
        } else {
            graph.addNode(node("ReduceMax", q + "_max", List.of(q + "_magnitude"), List.of(q + "_largest"),
                    OnnxProtos.ints("axes", -1L), intAttr("keepdims", 1)));
        }
        graph.addNode(node("Max", q + "_nonzero", List.of(q + "_largest", PER_TOKEN + "floor"), List.of(q + "_range")));
        graph.addNode(node("Div", q + "_step", List.of(q + "_range", PER_TOKEN + "steps"), List.of(q + "_scale")));
        graph.addNode(node("Div", q + "_divide", List.of(x, q + "_scale"), List.of(q + "_steps_of")));
        // rounded half to even, shifted by 128 and saturated in one pass: QuantizeLinear with a step of one
        graph.addNode(node("QuantizeLinear", q + "_codes", List.of(q + "_steps_of", PER_TOKEN + "one", PER_TOKEN + "zero_point"), List.of(q)));
        return new String[] {q, q + "_scale", PER_TOKEN + "zero_point"};
    }

    /** {@code output = x · w} in int8, {@code w} ([rows, columns], or [columns, rows] when {@code transposed}) a constant or not. */
    private void matmul(String x, String w, boolean transposed, String output) {
        boolean perToken = options.activations() == Activations.PER_TOKEN;
        quantized++;
        String[] a = activation(x);
        String[] b;
        if (floatMatrix(w)) {
            TensorProto weight = constants.get(w);
            float[] values = OnnxProtos.floatValues(weight);
            int rows = (int) weight.getDims(transposed ? 1 : 0);
            int columns = (int) weight.getDims(transposed ? 0 : 1);
            if (transposed) {
                float[] back = new float[values.length];
                for (int r = 0; r < rows; r++) {
                    for (int c = 0; c < columns; c++) {
                        back[r * columns + c] = values[c * rows + r];
                    }
                }
                values = back;
            }
            boolean perChannel = options.perChannel();
            float[] scales = new float[perChannel ? columns : 1];
            for (int i = 0; i < values.length; i++) {
                int k = perChannel ? i % columns : 0;
                scales[k] = Math.max(scales[k], Math.abs(values[i]));
            }
            for (int k = 0; k < scales.length; k++) {
                scales[k] = scales[k] == 0 ? 1f : scales[k] / 127f;
            }
            byte[] codes = new byte[values.length];
            for (int i = 0; i < values.length; i++) {
                codes[i] = (byte) Math.max(-127, Math.min(127, Math.round(values[i] / scales[perChannel ? i % columns : 0])));
            }
            String base = name(weight.getName());
            b = new String[] {base, base + "_scale", base + "_zero_point"};
            long[] scaleDims = perChannel ? new long[] {columns} : new long[0];
            graph.addInitializer(bytes(b[0], TensorProto.DataType.INT8, new long[] {rows, columns}, codes));
            graph.addInitializer(floats(b[1], scaleDims, scales));
            graph.addInitializer(bytes(b[2], TensorProto.DataType.INT8, scaleDims, new byte[scales.length]));
        } else {
            b = activation(w);
        }
        String base = name(output);
        if (perToken && floatMatrix(w)) {
            // ONNX Runtime's MatMulIntegerToFloat: the int8 product and the weight's scales in one kernel (one for A's
            // scale), then each token's scale ([..., 1]); ~3% faster on the demo model than MatMulInteger, Cast and two Muls
            graph.addNode(node("MatMulIntegerToFloat", base + "_matmul", List.of(a[0], b[0], PER_TOKEN + "one", b[1], a[2], b[2]),
                    List.of(base + "_columns")).toBuilder().setDomain(CONTRIB));
            graph.addNode(node("Mul", base + "_token_scale", List.of(base + "_columns", a[1]), List.of(output)));
            return;
        }
        graph.addNode(node("MatMulInteger", base + "_matmul", List.of(a[0], b[0], a[2], b[2]), List.of(base + "_int32")));
        graph.addNode(node("Cast", base + "_cast", List.of(base + "_int32"), List.of(base + "_float"),
                intAttr("to", TensorProto.DataType.FLOAT_VALUE)));
        graph.addNode(node("Mul", base + "_scales", List.of(a[1], b[1]), List.of(base + "_scale")));
        graph.addNode(node("Mul", base + "_rescale", List.of(base + "_float", base + "_scale"), List.of(output)));
    }

    private void gather(NodeProto n) {
        TensorProto table = constants.get(n.getInput(0));
        float[] values = OnnxProtos.floatValues(table);
        float min = 0;
        float max = 0;
        for (float v : values) {
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        float scale = max == min ? 1f : (max - min) / 255f;
        int zero = Math.max(0, Math.min(255, Math.round(-min / scale)));
        byte[] codes = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            codes[i] = (byte) Math.max(0, Math.min(255, Math.round(values[i] / scale) + zero));
        }
        String base = name(table.getName());
        graph.addInitializer(bytes(base, TensorProto.DataType.UINT8, table.getDimsList().stream().mapToLong(Long::longValue).toArray(), codes));
        graph.addInitializer(floats(base + "_scale", new long[0], new float[] {scale}));
        graph.addInitializer(bytes(base + "_zero_point", TensorProto.DataType.UINT8, new long[0], new byte[] {(byte) zero}));
        String rows = name(n.getOutput(0));
        graph.addNode(n.toBuilder().setInput(0, base).setOutput(0, rows));
        graph.addNode(node("DequantizeLinear", rows + "_dequantize", List.of(rows, base + "_scale", base + "_zero_point"),
                List.of(n.getOutput(0))));
    }

    /** Drops the float constants that only the rewritten nodes read. */
    private void dropUnused() {
        java.util.Set<String> used = new java.util.HashSet<>();
        graph.getNodeList().forEach(n -> used.addAll(n.getInputList()));
        graph.getOutputList().forEach(o -> used.add(o.getName()));
        List<TensorProto> kept = graph.getInitializerList().stream().filter(t -> used.contains(t.getName())).toList();
        java.util.Set<String> dropped = new java.util.HashSet<>();
        graph.getInitializerList().stream().filter(t -> !used.contains(t.getName())).forEach(t -> dropped.add(t.getName()));
        graph.clearInitializer().addAllInitializer(kept);
        // models of IR version < 4 list their initializers as inputs too
        var inputs = graph.getInputList().stream().filter(i -> !dropped.contains(i.getName())).toList();
        graph.clearInput().addAllInput(inputs);
    }
}
