package dev.igate.predictor.onnx;

import static dev.igate.predictor.onnx.OnnxProtos.floatAttr;
import static dev.igate.predictor.onnx.OnnxProtos.floats;
import static dev.igate.predictor.onnx.OnnxProtos.intAttr;
import static dev.igate.predictor.onnx.OnnxProtos.longs;
import static dev.igate.predictor.onnx.OnnxProtos.node;
import static dev.igate.predictor.onnx.OnnxProtos.tensorValue;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Random;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.SessionSettings;
import dev.igate.protocol.Tensor;
import org.junit.jupiter.api.Test;

/**
 * The int8 quantizer on small graphs run by ONNX Runtime: an embedding lookup, a MatMul and a
 * transposed Gemm with a bias (beta 0.5), as a classifier head has them. The int8 graph answers
 * within the int8 error of the float one; serving leaves the word table in float.
 */
class Int8QuantizerTests {

    static final int VOCAB = 20;
    static final int HIDDEN = 16;
    static final int LABELS = 3;

    static float[] random(Random random, int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) random.nextGaussian();
        }
        return out;
    }

    /** ids[batch, tokens] -> embeddings (Gather) -> MatMul -> mean over tokens -> Gemm(transB, bias) -> logits[batch, 3]. */
    static ModelProto model() {
        Random random = new Random(7);
        GraphProto graph = GraphProto.newBuilder().setName("head")
                .addInput(tensorValue("ids", TensorProto.DataType.INT64, "batch", "tokens"))
                .addOutput(tensorValue("logits", TensorProto.DataType.FLOAT, "batch", (long) LABELS))
                .addInitializer(floats("words", new long[] {VOCAB, HIDDEN}, random(random, VOCAB * HIDDEN)))
                .addInitializer(floats("dense", new long[] {HIDDEN, HIDDEN}, random(random, HIDDEN * HIDDEN)))
                // a Linear layer's weight as PyTorch exports it: [out, in], transB
                .addInitializer(floats("classifier", new long[] {LABELS, HIDDEN}, random(random, LABELS * HIDDEN)))
                .addInitializer(floats("bias", new long[] {LABELS}, new float[] {0.5f, -1f, 2f}))
                .addInitializer(longs("axes", new long[] {1}, new long[] {1}))
                .addNode(node("Gather", "lookup", List.of("words", "ids"), List.of("embedded")))
                .addNode(node("MatMul", "project", List.of("embedded", "dense"), List.of("projected")))
                .addNode(node("ReduceMean", "pool", List.of("projected", "axes"), List.of("pooled"), intAttr("keepdims", 0)))
                .addNode(node("Gemm", "classify", List.of("pooled", "classifier", "bias"), List.of("logits"), intAttr("transB", 1),
                        floatAttr("beta", 0.5f)))
                .build();
        return ModelProto.newBuilder().setIrVersion(8).addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(18))
                .setGraph(graph).build();
    }

    static float[] run(ModelProto model, long[] ids, long[] shape) throws Exception {
        try (OnnxModel session = OnnxModel.load(model.toByteArray(), new SessionSettings("cpu", 1, 1, "all"), "int8 test")) {
            return session.run(List.of(Tensor.ofLongs("ids", shape, ids)), List.of("logits")).get(0).floats();
        }
    }

    @Test
    void theInt8GraphAnswersAsTheFloatOneWithinItsQuantizationError() throws Exception {
        long[] ids = {1, 5, 7, 19, 0, 3, 3, 12, 8, 2, 11, 4};
        long[] shape = {3, 4};
        ModelProto fp32 = model();
        float[] expected = run(fp32, ids, shape);
        for (Int8Quantizer.Options options : List.of(Int8Quantizer.Options.SERVING, new Int8Quantizer.Options(false, false),
                new Int8Quantizer.Options(true, true))) {
            ModelProto int8 = Int8Quantizer.quantize(fp32, options);
            List<String> ops = int8.getGraph().getNodeList().stream().map(NodeProto::getOpType).toList();
            // both products in int8, no float product left
            assertThat(ops).filteredOn("MatMulInteger"::equals).hasSize(2);
            assertThat(ops).doesNotContain("MatMul", "Gemm");
            assertThat(ops.contains("DequantizeLinear")).isEqualTo(options.embeddings());
            float[] actual = run(int8, ids, shape);
            double largest = 0;
            for (float v : expected) {
                largest = Math.max(largest, Math.abs(v));
            }
            for (int i = 0; i < expected.length; i++) {
                assertThat((double) actual[i]).as("logit %d with %s", i, options).isCloseTo(expected[i], org.assertj.core.data.Offset.offset(0.05 * largest));
            }
        }
    }

    @Test
    void servingKeepsTheWordTableInFloatAndWeightsAsInt8PerChannel() {
        ModelProto int8 = Int8Quantizer.quantize(model(), Int8Quantizer.Options.SERVING);
        List<TensorProto> constants = int8.getGraph().getInitializerList();
        assertThat(constants).anySatisfy(t -> {
            assertThat(t.getName()).isEqualTo("words");
            assertThat(t.getDataType()).isEqualTo(TensorProto.DataType.FLOAT_VALUE);
        });
        assertThat(constants).noneMatch(t -> t.getName().equals("dense") || t.getName().equals("classifier"));
        // the transposed classifier stored [in, out], a scale per output column
        assertThat(constants).anySatisfy(t -> {
            assertThat(t.getDataType()).isEqualTo(TensorProto.DataType.INT8_VALUE);
            assertThat(t.getDimsList()).containsExactly((long) HIDDEN, (long) LABELS);
        });
        assertThat(constants).anySatisfy(t -> {
            assertThat(t.getName()).startsWith("classifier").endsWith("_scale");
            assertThat(t.getDimsList()).containsExactly((long) LABELS);
        });
    }

    @Test
    void aModelWithoutProductsIsRefused() {
        GraphProto graph = GraphProto.newBuilder().setName("identity")
                .addInput(tensorValue("x", TensorProto.DataType.FLOAT, "batch", 2L))
                .addOutput(tensorValue("y", TensorProto.DataType.FLOAT, "batch", 2L))
                .addNode(node("Relu", "relu", List.of("x"), List.of("y"))).build();
        ModelProto model = ModelProto.newBuilder().setIrVersion(8).addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(18))
                .setGraph(graph).build();
        assertThatThrownBy(() -> Int8Quantizer.quantize(model, Int8Quantizer.Options.SERVING))
                .hasMessageContaining("no MatMul or Gemm");
    }
}
