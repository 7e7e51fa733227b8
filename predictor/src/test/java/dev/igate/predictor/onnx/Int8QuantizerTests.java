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
        return model(18, false);
    }

    /**
     * As {@link #model()} at an opset; with {@code attention}, the projected tokens also multiplied by
     * each other (scores = p p^T, then scores p), a product of two activations as attention has.
     */
    static ModelProto model(int opset, boolean attention) {
        Random random = new Random(7);
        GraphProto.Builder graph = GraphProto.newBuilder().setName("head")
                .addInput(tensorValue("ids", TensorProto.DataType.INT64, "batch", "tokens"))
                .addOutput(tensorValue("logits", TensorProto.DataType.FLOAT, "batch", (long) LABELS))
                .addInitializer(floats("words", new long[] {VOCAB, HIDDEN}, random(random, VOCAB * HIDDEN)))
                .addInitializer(floats("dense", new long[] {HIDDEN, HIDDEN}, random(random, HIDDEN * HIDDEN)))
                // a Linear layer's weight as PyTorch exports it: [out, in], transB
                .addInitializer(floats("classifier", new long[] {LABELS, HIDDEN}, random(random, LABELS * HIDDEN)))
                .addInitializer(floats("bias", new long[] {LABELS}, new float[] {0.5f, -1f, 2f}))
                .addNode(node("Gather", "lookup", List.of("words", "ids"), List.of("embedded")))
                .addNode(node("MatMul", "project", List.of("embedded", "dense"), List.of("projected")));
        String pooledFrom = "projected";
        if (attention) {
            graph.addNode(node("Transpose", "keys", List.of("projected"), List.of("keys_t"), OnnxProtos.ints("perm", 0, 2, 1)))
                    .addNode(node("MatMul", "scores", List.of("projected", "keys_t"), List.of("scores")))
                    .addInitializer(floats("temperature", new long[0], new float[] {0.05f}))
                    .addNode(node("Mul", "scaled", List.of("scores", "temperature"), List.of("scaled_scores")))
                    .addNode(node("MatMul", "mix", List.of("scaled_scores", "projected"), List.of("mixed")));
            pooledFrom = "mixed";
        }
        if (opset >= 18) {
            graph.addInitializer(longs("axes", new long[] {1}, new long[] {1}))
                    .addNode(node("ReduceMean", "pool", List.of(pooledFrom, "axes"), List.of("pooled"), intAttr("keepdims", 0)));
        } else {
            graph.addNode(node("ReduceMean", "pool", List.of(pooledFrom), List.of("pooled"), OnnxProtos.ints("axes", 1), intAttr("keepdims", 0)));
        }
        graph.addNode(node("Gemm", "classify", List.of("pooled", "classifier", "bias"), List.of("logits"), intAttr("transB", 1),
                floatAttr("beta", 0.5f)));
        return ModelProto.newBuilder().setIrVersion(8).addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset))
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
        for (Int8Quantizer.Options options : List.of(Int8Quantizer.Options.SERVING, new Int8Quantizer.Options(false, false, Int8Quantizer.Activations.PER_TOKEN),
                new Int8Quantizer.Options(false, false, Int8Quantizer.Activations.PER_TENSOR),
                new Int8Quantizer.Options(true, true, Int8Quantizer.Activations.PER_TENSOR))) {
            ModelProto int8 = Int8Quantizer.quantize(fp32, options);
            List<String> ops = int8.getGraph().getNodeList().stream().map(NodeProto::getOpType).toList();
            // both products in int8 (ONNX Runtime's MatMulIntegerToFloat for activations per token), no float product left
            assertThat(ops).filteredOn(op -> op.startsWith("MatMulInteger")).hasSize(2);
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

    /** Each row's logits run in a batch of three, less the same row run alone: the largest difference. */
    static double batchDependence(ModelProto model) throws Exception {
        long[] ids = {1, 5, 7, 19, 0, 3, 3, 12, 8, 2, 11, 4};
        float[] batched = run(model, ids, new long[] {3, 4});
        double largest = 0;
        for (int row = 0; row < 3; row++) {
            float[] alone = run(model, java.util.Arrays.copyOfRange(ids, row * 4, row * 4 + 4), new long[] {1, 4});
            for (int c = 0; c < LABELS; c++) {
                largest = Math.max(largest, Math.abs(batched[row * LABELS + c] - alone[c]));
            }
        }
        return largest;
    }

    @Test
    void perTokenActivationsKeepRowsIndependentWherePerTensorOnesMixThem() throws Exception {
        for (int opset : new int[] {13, 18}) {
            ModelProto fp32 = model(opset, true);
            ModelProto perToken = Int8Quantizer.quantize(fp32, Int8Quantizer.Options.SERVING);
            ModelProto perTensor = Int8Quantizer.quantize(fp32, new Int8Quantizer.Options(true, false, Int8Quantizer.Activations.PER_TENSOR));
            List<String> ops = perToken.getGraph().getNodeList().stream().map(NodeProto::getOpType).toList();
            // the weights' products in int8, the two products of activations left in float
            assertThat(ops).filteredOn("MatMulIntegerToFloat"::equals).hasSize(2);
            assertThat(ops).filteredOn("MatMul"::equals).hasSize(2);
            assertThat(ops).doesNotContain("DynamicQuantizeLinear");
            assertThat(dev.igate.predictor.BatchDependence.batchWideOperator(perToken)).isNull();
            assertThat(batchDependence(fp32)).as("fp32, opset %d", opset).isLessThan(1e-5);
            assertThat(batchDependence(perToken)).as("per token, opset %d", opset).isLessThan(1e-5);
            assertThat(batchDependence(perTensor)).as("per tensor, opset %d", opset).isGreaterThan(1e-3);
            float[] expected = run(fp32, new long[] {1, 5, 7, 19}, new long[] {1, 4});
            float[] actual = run(perToken, new long[] {1, 5, 7, 19}, new long[] {1, 4});
            for (int c = 0; c < LABELS; c++) {
                assertThat((double) actual[c]).isCloseTo(expected[c], org.assertj.core.data.Offset.offset(0.05 * Math.abs(expected[c]) + 0.05));
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

    /**
     * What each {@link Int8Quantizer#FORM} writes: the SHA-256 of the quantized test graphs (opsets 13
     * and 18, with attention's products) under every option. Servers name cached copies by the form,
     * so a change to the written graphs must raise FORM (and record its fingerprint here), or copies of
     * the old form keep being served.
     */
    static final java.util.Map<Integer, String> FORM_FINGERPRINTS = java.util.Map.of(
            2, "476fca8225a9cc1f050ce6f6ac9d61ebfe816c2dec85097614e61fd04ba628d3");

    static String fingerprint() throws Exception {
        java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
        for (int opset : new int[] {13, 18}) {
            for (boolean perChannel : new boolean[] {true, false}) {
                for (boolean embeddings : new boolean[] {true, false}) {
                    for (Int8Quantizer.Activations activations : Int8Quantizer.Activations.values()) {
                        sha.update(Int8Quantizer.quantize(model(opset, true), new Int8Quantizer.Options(perChannel, embeddings, activations))
                                .toByteArray());
                    }
                }
            }
        }
        return java.util.HexFormat.of().formatHex(sha.digest());
    }

    @Test
    void theFormNumberChangesWithTheGraphsWritten() throws Exception {
        assertThat(fingerprint()).as("the quantizer writes other graphs than form %d did: raise Int8Quantizer.FORM and record its"
                + " fingerprint", Int8Quantizer.FORM).isEqualTo(FORM_FINGERPRINTS.get(Int8Quantizer.FORM));
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
