package dev.igate.predictor;

import static dev.igate.predictor.onnx.OnnxProtos.floats;
import static dev.igate.predictor.onnx.OnnxProtos.intAttr;
import static dev.igate.predictor.onnx.OnnxProtos.ints;
import static dev.igate.predictor.onnx.OnnxProtos.node;
import static dev.igate.predictor.onnx.OnnxProtos.tensorValue;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Tensor;
import org.junit.jupiter.api.Test;

/** The embedding table's size read from a model, and ids checked against it. */
public class TokenVocabularyTests {

    public static final int VOCAB = 100;

    /** logits[batch, 2] = Σ_seq table[input_ids] with a [100, 2] table: ORT fails the run for an id of 100 or more. */
    public static ModelProto embeddingModel(boolean castIds) {
        GraphProto.Builder graph = GraphProto.newBuilder().setName("embedding")
                .addInput(tensorValue("input_ids", TensorProto.DataType.INT64, "batch", "seq"))
                .addOutput(tensorValue("logits", TensorProto.DataType.FLOAT, "batch", 2L));
        float[] table = new float[VOCAB * 2];
        for (int i = 0; i < table.length; i++) {
            table[i] = i * 0.01f;
        }
        graph.addInitializer(floats("table", new long[] {VOCAB, 2}, table));
        String ids = "input_ids";
        if (castIds) {
            graph.addNode(node("Cast", "cast", List.of("input_ids"), List.of("ids32"), intAttr("to", TensorProto.DataType.INT32_VALUE)));
            ids = "ids32";
        }
        graph.addNode(node("Gather", "lookup", List.of("table", ids), List.of("rows")))
                .addNode(node("ReduceSum", "sum", List.of("rows"), List.of("logits"), ints("axes", 1), intAttr("keepdims", 0)));
        return ModelProto.newBuilder().setIrVersion(7)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(11)).setGraph(graph).build();
    }

    @Test
    void theVocabularyIsTheTableThatInputIdsIndex() {
        assertThat(TokenVocabulary.of(embeddingModel(false)).size()).isEqualTo(VOCAB);
        assertThat(TokenVocabulary.of(embeddingModel(true)).size()).isEqualTo(VOCAB);
    }

    @Test
    void idsThatPassAnIdentityAfterTheirCastStillFindTheTable() {
        // input_ids -> Cast(INT32) -> Identity -> Gather, as some exporters write it; a Cast to float is no id
        GraphProto.Builder g = embeddingModel(true).getGraph().toBuilder();
        NodeProto lookup = g.getNode(1);
        g.setNode(1, lookup.toBuilder().setInput(1, "ids_same"));
        g.addNode(1, node("Identity", "same", List.of("ids32"), List.of("ids_same")));
        assertThat(TokenVocabulary.of(embeddingModel(true).toBuilder().setGraph(g).build()).size()).isEqualTo(VOCAB);

        GraphProto.Builder floatIds = embeddingModel(true).getGraph().toBuilder();
        floatIds.setNode(0, floatIds.getNode(0).toBuilder().clearAttribute().addAttribute(intAttr("to", TensorProto.DataType.FLOAT_VALUE)));
        assertThat(TokenVocabulary.of(embeddingModel(true).toBuilder().setGraph(floatIds).build()).size()).isZero();
    }

    @Test
    void anInt8TableBehindDequantizeLinearHasItsRowsCounted() {
        ModelProto plain = embeddingModel(false);
        GraphProto.Builder g = plain.getGraph().toBuilder();
        g.removeInitializer(0);
        g.addInitializer(TensorProto.newBuilder().setName("table_quantized").setDataType(TensorProto.DataType.UINT8_VALUE)
                .addDims(VOCAB).addDims(2).setRawData(com.google.protobuf.ByteString.copyFrom(new byte[VOCAB * 2])));
        g.addInitializer(floats("table_scale", new long[0], new float[] {0.01f}));
        g.addNode(0, node("DequantizeLinear", "dequantize", List.of("table_quantized", "table_scale"), List.of("table")));

        assertThat(TokenVocabulary.of(plain.toBuilder().setGraph(g).build()).size()).isEqualTo(VOCAB);
    }

    @Test
    void theWordTableOfAFusedEmbedLayerNormalizationCounts() {
        ModelProto plain = embeddingModel(false);
        GraphProto.Builder g = plain.getGraph().toBuilder().clearNode();
        g.addNode(node("Cast", "ids32", List.of("input_ids"), List.of("ids32"), intAttr("to", TensorProto.DataType.INT32_VALUE)));
        g.addNode(NodeProto.newBuilder().setOpType("EmbedLayerNormalization").setDomain("com.microsoft").setName("fused")
                .addInput("ids32").addInput("").addInput("table").addOutput("logits").build());

        assertThat(TokenVocabulary.of(plain.toBuilder().setGraph(g).build()).size()).isEqualTo(VOCAB);
    }

    @Test
    void anIdOutsideTheVocabularyIsInvalidInputNamingIt() {
        TokenVocabulary vocabulary = TokenVocabulary.of(embeddingModel(false));
        Tensor good = Tensor.ofLongs("input_ids", new long[] {1, 3}, new long[] {0, 5, 99});
        Tensor bad = Tensor.ofLongs("input_ids", new long[] {1, 3}, new long[] {0, 100, 5});

        vocabulary.check(List.of(good));
        assertThatThrownBy(() -> vocabulary.check(List.of(bad))).isInstanceOf(InvalidInputException.class)
                .hasMessage("Input input_ids holds the token id 100 at element 1, outside the model's vocabulary of 100 (ids 0 to 99)");
        assertThatThrownBy(() -> vocabulary.check(List.of(Tensor.ofLongs("input_ids", new long[] {1, 1}, new long[] {-1}))))
                .isInstanceOf(InvalidInputException.class);
    }

    @Test
    void aModelWithoutALookupOfInputIdsChecksNothing() throws Exception {
        assertThat(TokenVocabulary.of(ai.onnx.proto.OnnxMl.ModelProto.parseFrom(OnnxModelTests.linearModel())))
                .isSameAs(TokenVocabulary.UNKNOWN);
    }
}
