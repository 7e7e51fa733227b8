package dev.igate.explainer;

import static dev.igate.predictor.onnx.OnnxProtos.intAttr;
import static dev.igate.predictor.onnx.OnnxProtos.node;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.igate.demo.TinyClassifier;
import dev.igate.predictor.InstanceLayout;
import dev.igate.predictor.SessionSettings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The explainer on small classifiers built here: surgery, gradient graph, and the black-box fallback. */
class TinyClassifierExplainerTests {

    static final SessionSettings CPU = new SessionSettings("cpu", 1, 1, "all");

    @TempDir
    Path dir;

    IntegratedGradients prepare(String activation) throws Exception {
        TinyClassifier.write(dir.resolve(activation), activation, 3);
        return IntegratedGradients.prepare(dir.resolve(activation).resolve("model.onnx"), "logits", CPU);
    }

    /** The tiny classifier with its activation computed in DOUBLE: Cast, the activation, Cast back to FLOAT. */
    IntegratedGradients prepareInDouble(String activation) throws Exception {
        ModelProto model = TinyClassifier.model(activation, 3);
        GraphProto.Builder g = model.getGraph().toBuilder();
        int at = g.getNodeList().indexOf(g.getNodeList().stream().filter(n -> n.getOpType().equals(activation)).findFirst().orElseThrow());
        g.removeNode(at);
        g.addNode(at, node("Cast", "/activation/Cast", List.of("embedded"), List.of("wide"), intAttr("to", TensorProto.DataType.DOUBLE_VALUE)));
        g.addNode(at + 1, node(activation, "/activation/" + activation, List.of("wide"), List.of("wide_activated")));
        g.addNode(at + 2, node("Cast", "/activation/Cast_1", List.of("wide_activated"), List.of("activated"),
                intAttr("to", TensorProto.DataType.FLOAT_VALUE)));
        Path file = dir.resolve("double-" + activation + ".onnx");
        Files.write(file, model.toBuilder().setGraph(g).build().toByteArray());
        return IntegratedGradients.prepare(file, "logits", CPU);
    }

    @Test
    void gradientPiecesShrinkWithTheSquareOfTheSequenceAndForwardPiecesWithItsLength() throws Exception {
        TinyClassifier.write(dir.resolve("Tanh"), "Tanh", 3);
        try (IntegratedGradients ig = IntegratedGradients.prepare(dir.resolve("Tanh").resolve("model.onnx"), "logits", CPU,
                new InstanceLayout(2, 1, 0, true))) {
            // 50 path points: 16 tokens fit 28 rows a piece (65,536 / (16 x 144)), in pieces shared equally by both instances
            assertThat(ig.pieces(50, 0, 16, true)).containsExactly(0, 25, 50);
            // 128 tokens: 2 rows a piece, 26 pieces (a multiple of the instances); 150 tokens and more: a row a piece
            int[] at128 = ig.pieces(50, 0, 128, true);
            assertThat(at128).hasSize(27);
            for (int i = 1; i < at128.length; i++) {
                assertThat(at128[i] - at128[i - 1]).isBetween(1, 2);
            }
            assertThat(ig.pieces(50, 0, 150, true)).hasSize(51);
            // forward-only runs keep no activations: 1,024 padded tokens a piece
            int[] forward = ig.pieces(3200, 0, 16, false);
            assertThat(forward).hasSize(51);
            assertThat(forward[1]).isEqualTo(64);
            // a request's internal batch size is taken as asked, up to 4,096 padded tokens a run
            assertThat(ig.pieces(50, 8, 150, true)).containsExactly(0, 8, 16, 24, 32, 40, 48, 50);
            assertThat(ig.pieces(50, 50, 150, true)[1]).isEqualTo(27);
        }
    }

    static IntegratedGradients.Sample sample() {
        long[] ids = {101, 2023, 3185, 2003, 2307, 102};
        long[] baseline = {101, 0, 0, 0, 0, 102};
        return new IntegratedGradients.Sample(ids, new long[] {1, 1, 1, 1, 1, 1}, new long[6], baseline);
    }

    @Test
    void surgeryReplacesTheLookupAndThePositionShapeReadsTheEmbeddings() throws Exception {
        EmbeddingGraph g = EmbeddingGraph.of(TinyClassifier.model("Tanh", 3));

        assertThat(g.vocab()).isEqualTo(TinyClassifier.VOCAB);
        assertThat(g.hidden()).isEqualTo(TinyClassifier.HIDDEN);
        assertThat(g.needsInputIds()).isFalse();
        assertThat(g.model().getGraph().getInputList()).extracting(i -> i.getName())
                .containsExactly("inputs_embeds", "attention_mask");
        assertThat(g.model().getGraph().getInitializerList()).noneMatch(t -> t.getName().equals("word_embeddings"));
    }

    @Test
    void gradientGraphAndBlackBoxAgreeOnASmallModel() throws Exception {
        try (IntegratedGradients ig = prepare("Tanh")) {
            Attribution graph = ig.attribute(sample(), 2, Quadrature.of(Quadrature.GAUSS_LEGENDRE, 30), null, 0);
            Attribution blackbox = ig.attribute(sample(), 2, Quadrature.of(Quadrature.GAUSS_LEGENDRE, 30),
                    IntegratedGradients.BLACKBOX, 0);

            assertThat(graph.gradients()).isEqualTo("graph");
            assertThat(DemoModelExplainerIT.cosine(graph.scores(), blackbox.scores())).isGreaterThanOrEqualTo(0.999);
            // F(x) and F(baseline) from the gradient graph fed backward=false: the forward graph's values
            assertThat(graph.logits()).containsExactly(blackbox.logits(), within(1e-5f));
            assertThat(graph.baselineLogits()).containsExactly(blackbox.baselineLogits(), within(1e-5f));
            assertThat(Math.abs(graph.delta())).isLessThan(0.05 * Math.abs(graph.logits()[2] - graph.baselineLogits()[2]));
        }
    }

    @Test
    void gradientGraphRunsThroughADoubleSectionOfTheModel() throws Exception {
        try (IntegratedGradients ig = prepareInDouble("Exp")) {
            assertThat(ig.gradientUnavailableReason()).isNull();

            Attribution graph = ig.attribute(sample(), 2, Quadrature.of(Quadrature.GAUSS_LEGENDRE, 30), IntegratedGradients.GRAPH, 0);
            Attribution blackbox = ig.attribute(sample(), 2, Quadrature.of(Quadrature.GAUSS_LEGENDRE, 30),
                    IntegratedGradients.BLACKBOX, 0);

            assertThat(DemoModelExplainerIT.cosine(graph.scores(), blackbox.scores())).isGreaterThanOrEqualTo(0.999);
        }
    }

    @Test
    void aGradientGraphOnnxRuntimeRejectsFallsBackToTheBlackBoxMethod() throws Exception {
        // Tanh's rule writes a FLOAT constant, which cannot meet its DOUBLE output
        try (IntegratedGradients ig = prepareInDouble("Tanh")) {
            assertThat(ig.hasGradientGraph()).isFalse();
            assertThat(ig.gradientUnavailableReason()).startsWith("ONNX Runtime rejected the gradient graph");

            Attribution a = ig.attribute(sample(), -1, Quadrature.of(Quadrature.GAUSS_LEGENDRE, 30), null, 0);

            assertThat(a.gradients()).isEqualTo("blackbox");
            assertThat(a.scores()).hasSize(6);
        }
    }

    @Test
    void anOperatorWithoutARuleFallsBackToTheBlackBoxMethod() throws Exception {
        try (IntegratedGradients ig = prepare("Sin")) {
            assertThat(ig.hasGradientGraph()).isFalse();
            assertThat(ig.gradientUnavailableReason()).isEqualTo("No gradient rule for operator Sin (node /activation/Sin)");

            Attribution a = ig.attribute(sample(), -1, Quadrature.of(Quadrature.GAUSS_LEGENDRE, 30), null, 0);

            assertThat(a.gradients()).isEqualTo("blackbox");
            assertThat(Math.abs(a.delta())).isLessThan(0.05 * Math.abs(a.logits()[a.target()] - a.baselineLogits()[a.target()]));
            assertThat(a.scores()).hasSize(6);
        }
    }

    @Test
    void gradientGraphRunsForEveryQuadratureChunkSize() throws Exception {
        try (IntegratedGradients ig = prepare("Sigmoid")) {
            for (int batch : List.of(1, 7, 64)) {
                Attribution a = ig.attribute(sample(), 0, Quadrature.of(Quadrature.RIEMANN_TRAPEZOID, 20), IntegratedGradients.GRAPH, batch);
                assertThat(a.steps()).isEqualTo(20);
            }
        }
    }

    @Test
    void aLookupBehindACastOfTheIdsIsFoundAndExplainsAsTheModelWithoutIt() throws Exception {
        // given: the tiny classifier with its ids cast to INT32 before the word lookup, as some exports do
        ModelProto model = TinyClassifier.model("Tanh", 3);
        GraphProto.Builder g = model.getGraph().toBuilder();
        int at = g.getNodeList().indexOf(g.getNodeList().stream()
                .filter(n -> n.getName().equals("/embeddings/word_embeddings/Gather")).findFirst().orElseThrow());
        g.setNode(at, g.getNode(at).toBuilder().setInput(1, "ids32"));
        g.addNode(at, node("Cast", "/embeddings/Cast", List.of("input_ids"), List.of("ids32"),
                intAttr("to", TensorProto.DataType.INT32_VALUE)));
        Path file = dir.resolve("cast-ids.onnx");
        Files.write(file, model.toBuilder().setGraph(g).build().toByteArray());

        try (IntegratedGradients cast = IntegratedGradients.prepare(file, "logits", CPU); IntegratedGradients plain = prepare("Tanh")) {
            // then: the lookup and its Cast are cut out, and the explanation is the plain model's
            assertThat(cast.embeddings().needsInputIds()).isFalse();
            assertThat(EmbeddingGraph.of(model.toBuilder().setGraph(g).build()).model().getGraph().getNodeList())
                    .noneMatch(n -> n.getName().equals("/embeddings/Cast"));
            Attribution a = cast.attribute(sample(), 2, Quadrature.of(Quadrature.GAUSS_LEGENDRE, 30), null, 0);
            Attribution b = plain.attribute(sample(), 2, Quadrature.of(Quadrature.GAUSS_LEGENDRE, 30), null, 0);
            assertThat(a.gradients()).isEqualTo("graph");
            assertThat(DemoModelExplainerIT.cosine(a.scores(), b.scores())).isGreaterThanOrEqualTo(0.9999);
        }
    }

    @Test
    void anInt8WordTableBehindDequantizeLinearIsFoundAndExplainsAsItsFloatValues() throws Exception {
        // given: the tiny classifier with its word table stored as UINT8 and a per-tensor scale, as int8 exports store it
        ModelProto model = TinyClassifier.model("Tanh", 3);
        GraphProto.Builder g = model.getGraph().toBuilder();
        TensorProto floats = g.getInitializerList().stream().filter(t -> t.getName().equals("word_embeddings")).findFirst().orElseThrow();
        float[] values = dev.igate.predictor.onnx.OnnxProtos.floatValues(floats);
        float max = 0;
        for (float v : values) {
            max = Math.max(max, Math.abs(v));
        }
        float scale = max / 127f;
        byte[] codes = new byte[values.length];
        float[] dequantized = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            int q = Math.round(values[i] / scale) + 128;
            codes[i] = (byte) q;
            dequantized[i] = (q - 128) * scale;
        }
        g.removeInitializer(g.getInitializerList().indexOf(floats));
        g.addInitializer(TensorProto.newBuilder().setName("word_embeddings_quantized").setDataType(TensorProto.DataType.UINT8_VALUE)
                .addAllDims(floats.getDimsList()).setRawData(com.google.protobuf.ByteString.copyFrom(codes)));
        g.addInitializer(dev.igate.predictor.onnx.OnnxProtos.floats("word_embeddings_scale", new long[0], new float[] {scale}));
        g.addInitializer(TensorProto.newBuilder().setName("word_embeddings_zero_point").setDataType(TensorProto.DataType.UINT8_VALUE)
                .setRawData(com.google.protobuf.ByteString.copyFrom(new byte[] {(byte) 128})));
        g.addNode(0, node("DequantizeLinear", "/embeddings/DequantizeLinear",
                List.of("word_embeddings_quantized", "word_embeddings_scale", "word_embeddings_zero_point"), List.of("word_embeddings")));
        Path file = dir.resolve("int8-table.onnx");
        Files.write(file, model.toBuilder().setGraph(g).build().toByteArray());

        try (IntegratedGradients ig = IntegratedGradients.prepare(file, "logits", CPU)) {
            // then: the lookup reads the dequantized values, and the table and its DequantizeLinear are cut out
            EmbeddingGraph e = ig.embeddings();
            float[] row = new float[TinyClassifier.HIDDEN];
            e.lookup(new long[] {2023}, row, 0);
            assertThat(row).containsExactly(java.util.Arrays.copyOfRange(dequantized, 2023 * TinyClassifier.HIDDEN,
                    2024 * TinyClassifier.HIDDEN));
            assertThat(EmbeddingGraph.of(model.toBuilder().setGraph(g).build()).model().getGraph().getNodeList())
                    .noneMatch(n -> n.getOpType().equals("DequantizeLinear"));
            Attribution graph = ig.attribute(sample(), 2, Quadrature.of(Quadrature.GAUSS_LEGENDRE, 30), null, 0);
            Attribution blackbox = ig.attribute(sample(), 2, Quadrature.of(Quadrature.GAUSS_LEGENDRE, 30), IntegratedGradients.BLACKBOX, 0);
            assertThat(graph.gradients()).isEqualTo("graph");
            assertThat(DemoModelExplainerIT.cosine(graph.scores(), blackbox.scores())).isGreaterThanOrEqualTo(0.999);
        }
    }
}
