package dev.igate.predictor;

import static dev.igate.predictor.onnx.OnnxProtos.floats;
import static dev.igate.predictor.onnx.OnnxProtos.intAttr;
import static dev.igate.predictor.onnx.OnnxProtos.ints;
import static dev.igate.predictor.onnx.OnnxProtos.node;
import static dev.igate.predictor.onnx.OnnxProtos.tensorValue;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.igate.protocol.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A model's lookup tables held once and read by several sessions, which answer as a session holding its own. */
class SharedTablesTests {

    static final int VOCAB = 1024;
    static final int HIDDEN = 256;

    @TempDir
    Path dir;

    /**
     * logits[batch, 4] = Σ_seq (words[input_ids] · w + small[input_ids]): a 1 MiB word table, a
     * 16 KB one, a MatMul weight.
     */
    static ModelProto model() {
        GraphProto.Builder g = GraphProto.newBuilder().setName("tables")
                .addInput(tensorValue("input_ids", TensorProto.DataType.INT64, "batch", "seq"))
                .addOutput(tensorValue("logits", TensorProto.DataType.FLOAT, "batch", 4L));
        float[] words = new float[VOCAB * HIDDEN];
        for (int i = 0; i < words.length; i++) {
            words[i] = (float) Math.sin(i * 0.001);
        }
        float[] w = new float[HIDDEN * 4];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) Math.cos(i * 0.01);
        }
        float[] small = new float[VOCAB * 4];
        for (int i = 0; i < small.length; i++) {
            small[i] = i * 1e-4f;
        }
        g.addInitializer(floats("words", new long[] {VOCAB, HIDDEN}, words))
                .addInitializer(floats("w", new long[] {HIDDEN, 4}, w))
                .addInitializer(floats("small", new long[] {VOCAB, 4}, small));
        g.addNode(node("Gather", "lookup", List.of("words", "input_ids"), List.of("rows")))
                .addNode(node("MatMul", "project", List.of("rows", "w"), List.of("projected")))
                .addNode(node("Gather", "lookup2", List.of("small", "input_ids"), List.of("rows2")))
                .addNode(node("Add", "add", List.of("projected", "rows2"), List.of("summed")))
                .addNode(node("ReduceSum", "sum", List.of("summed"), List.of("logits"), ints("axes", 1), intAttr("keepdims", 0)));
        return ModelProto.newBuilder().setIrVersion(7)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(11)).setGraph(g).build();
    }

    @Test
    void onlyLargeTablesThatNothingButALookupReadsAreShared() throws Exception {
        try (SharedTables tables = SharedTables.of(model())) {
            assertThat(tables.bytes()).isEqualTo(4L * VOCAB * HIDDEN);
            assertThat(tables.floats("words")).isNotNull();
            assertThat(tables.floats("small")).isNull();
            assertThat(tables.floats("w")).isNull();
            FloatBuffer words = tables.floats("words");
            assertThat(words.isReadOnly()).isTrue();
            assertThat(words.get(VOCAB * HIDDEN - 1)).isEqualTo((float) Math.sin((VOCAB * HIDDEN - 1) * 0.001));
        }
        // a table some other operator reads too (a tied output projection) may be packed by it: kept per session
        ModelProto tied = model().toBuilder().setGraph(model().getGraph().toBuilder()
                .addNode(node("Transpose", "tie", List.of("words"), List.of("words_t")))).build();
        try (SharedTables tables = SharedTables.of(tied)) {
            assertThat(tables.floats("words")).isNull();
            assertThat(tables.bytes()).isZero();
        }
    }

    @Test
    void sessionsReadingTheSharedTableAnswerAsASessionHoldingItsOwn() throws Exception {
        Path file = dir.resolve("model.onnx");
        Files.write(file, model().toByteArray());
        SessionSettings cpu = new SessionSettings("cpu", 1, 1, "all");
        long[] ids = {0, 5, 1023, 512, 7, 7};
        List<Tensor> in = List.of(Tensor.ofLongs("input_ids", new long[] {2, 3}, ids));
        try (SharedTables tables = SharedTables.of(model());
             OnnxModel own = OnnxModel.load(file, cpu);
             OnnxModel first = OnnxModel.load(file, cpu, tables);
             OnnxModel second = OnnxModel.load(file, cpu.withThreads(2, true), tables)) {
            float[] expected = own.run(in, List.of("logits")).get(0).floats();
            assertThat(first.run(in, List.of("logits")).get(0).floats()).containsExactly(expected);
            assertThat(second.run(in, List.of("logits")).get(0).floats()).containsExactly(expected);
            // and by hand: logit 0 of row 0 is Σ over ids 0, 5, 1023 of words[id]·w[:, 0] + small[id, 0]
            FloatBuffer words = tables.floats("words");
            double logit0 = 0;
            for (long id : new long[] {0, 5, 1023}) {
                for (int h = 0; h < HIDDEN; h++) {
                    logit0 += words.get((int) id * HIDDEN + h) * Math.cos(h * 4 * 0.01);
                }
                logit0 += id * 4 * 1e-4;
            }
            assertThat((double) expected[0]).isCloseTo(logit0, org.assertj.core.data.Offset.offset(1e-3));
        }
    }
}
