package dev.igate.demo;

import static dev.igate.predictor.onnx.OnnxProtos.bytes;
import static dev.igate.predictor.onnx.OnnxProtos.floats;
import static dev.igate.predictor.onnx.OnnxProtos.intAttr;
import static dev.igate.predictor.onnx.OnnxProtos.node;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.igate.predictor.onnx.OnnxProtos;

/**
 * Int8 dynamic quantization of a float model, in the form ONNX Runtime's {@code quantize_dynamic}
 * writes (the int8 models people publish), for test fixtures and benchmarks:
 * <ul>
 * <li>each MatMul: its activations through DynamicQuantizeLinear (uint8, scale and zero point per
 * run, over the whole batch tensor), a constant weight as int8 (symmetric, per tensor, or per
 * output column with {@code perChannel} as {@code quantize_dynamic(per_channel=True)}), the
 * product by MatMulInteger, then Cast to float and Mul by the two scales;</li>
 * <li>each Gather from a 2-D float constant (the embedding tables): the table as uint8 (per tensor,
 * asymmetric), the rows looked up then DequantizeLinear'd.</li>
 * </ul>
 */
public final class DynamicQuantizer {

    private final GraphProto.Builder graph;
    private final Map<String, TensorProto> constants = new HashMap<>();
    private final boolean perChannel;
    private int fresh;

    private DynamicQuantizer(GraphProto graph, boolean perChannel) {
        this.graph = graph.toBuilder().clearNode();
        this.perChannel = perChannel;
        graph.getInitializerList().forEach(t -> constants.put(t.getName(), t));
    }

    /** The model quantized with a scale per weight tensor (ONNX Runtime's default). */
    public static ModelProto quantize(ModelProto model) {
        return quantize(model, false);
    }

    /**
     * The quantized model, weights with a scale per tensor or per output column; the opset is
     * raised to 11 if lower (DynamicQuantizeLinear's first).
     */
    public static ModelProto quantize(ModelProto model, boolean perChannel) {
        DynamicQuantizer q = new DynamicQuantizer(model.getGraph(), perChannel);
        for (NodeProto n : model.getGraph().getNodeList()) {
            q.rewrite(n);
        }
        q.dropUnused();
        ModelProto.Builder out = model.toBuilder().setGraph(q.graph);
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
        if (standard && n.getOpType().equals("MatMul")) {
            matmul(n);
        } else if (standard && n.getOpType().equals("Gather") && floatMatrix(n.getInput(0))) {
            gather(n);
        } else {
            graph.addNode(n);
        }
    }

    /** DynamicQuantizeLinear of an activation: names of its uint8 values, scale and zero point. */
    private String[] dynamic(String x) {
        String q = name(x);
        String[] out = {q, q + "_scale", q + "_zero_point"};
        graph.addNode(node("DynamicQuantizeLinear", q + "_node", List.of(x), List.of(out)));
        return out;
    }

    private void matmul(NodeProto n) {
        String[] a = dynamic(n.getInput(0));
        String[] b;
        if (floatMatrix(n.getInput(1))) {
            TensorProto w = constants.get(n.getInput(1));
            float[] values = OnnxProtos.floatValues(w);
            int rows = (int) w.getDims(0);
            int columns = (int) w.getDims(1);
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
            String base = name(w.getName());
            b = new String[] {base, base + "_scale", base + "_zero_point"};
            long[] scaleDims = perChannel ? new long[] {columns} : new long[0];
            graph.addInitializer(bytes(b[0], TensorProto.DataType.INT8, new long[] {rows, columns}, codes));
            graph.addInitializer(floats(b[1], scaleDims, scales));
            graph.addInitializer(bytes(b[2], TensorProto.DataType.INT8, scaleDims, new byte[scales.length]));
        } else {
            b = dynamic(n.getInput(1));
        }
        String base = name(n.getOutput(0));
        graph.addNode(node("MatMulInteger", base + "_matmul", List.of(a[0], b[0], a[2], b[2]), List.of(base + "_int32")));
        graph.addNode(node("Cast", base + "_cast", List.of(base + "_int32"), List.of(base + "_float"),
                intAttr("to", TensorProto.DataType.FLOAT_VALUE)));
        graph.addNode(node("Mul", base + "_scales", List.of(a[1], b[1]), List.of(base + "_scale")));
        graph.addNode(node("Mul", base + "_rescale", List.of(base + "_float", base + "_scale"), List.of(n.getOutput(0))));
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
