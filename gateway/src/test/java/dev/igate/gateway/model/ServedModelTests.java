package dev.igate.gateway.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;

import dev.igate.demo.TinyClassifier;
import dev.igate.explainer.ExplainOptions;
import dev.igate.explainer.Quadrature;
import dev.igate.protocol.Explanation;
import dev.igate.protocol.NotImplementedException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A loaded version's explainer, built from the bytes its sessions were loaded from, on real tiny models. */
class ServedModelTests {

    static final String TEXT = "a short text about toxicology";
    static final ExplainOptions OPTIONS = new ExplainOptions(null, 8, Quadrature.GAUSS_LEGENDRE, ExplainOptions.PAD, "graph", true, 0);

    @TempDir
    Path folder;

    RegistryHarness harness;

    @AfterEach
    void stop() {
        harness.close();
    }

    static float[] softmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double sum = 0;
        float[] p = new float[logits.length];
        for (int i = 0; i < p.length; i++) {
            p[i] = (float) Math.exp(logits[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= (float) sum;
        }
        return p;
    }

    @Test
    void anExplanationComesFromTheBytesTheSessionsLoadedAfterTheRepositorysFileIsReplaced() throws Exception {
        // given: a version loaded from the repository
        Path version = folder.resolve("models").resolve("Swapped").resolve("1");
        TinyClassifier.write(version, "Tanh", 1);
        harness = new RegistryHarness(folder);
        ModelRegistry registry = harness.start(Map.of());
        ServedModel served = registry.resolve("Swapped", "1");
        float[] predicted = softmax(served.logits(served.encoder().encode(List.of(TEXT))).join().floats());

        // when: its file is replaced in the repository (a storage swap whose reload failed, a copy in progress)
        Path incoming = version.resolve("model.onnx.incoming");
        Files.writeString(incoming, "half a model");
        Files.move(incoming, version.resolve("model.onnx"), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        Explanation explained = served.explainer().explain(TEXT, OPTIONS);

        // then: the explanation is of the model that predicts
        assertThat(explained.probabilities()).containsExactly(predicted, org.assertj.core.data.Offset.offset(1e-5f));
    }

    @Test
    void aFileWrittenOverInPlaceSinceTheLoadIsNotExplainedWithOtherWeights() throws Exception {
        Path version = folder.resolve("models").resolve("Overwritten").resolve("1");
        TinyClassifier.write(version, "Tanh", 1);
        harness = new RegistryHarness(folder);
        ServedModel served = harness.start(Map.of()).resolve("Overwritten", "1");

        // the same file (inode) rewritten with other weights, as cp onto it does
        byte[] other = TinyClassifier.model("Tanh", 2).toByteArray();
        Files.write(version.resolve("model.onnx"), other);
        Files.setLastModifiedTime(version.resolve("model.onnx"), java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() + 5000));

        // a hard-linked pin sees the change and refuses; a copied pin (another file system) still has the loaded bytes
        try {
            Explanation explained = served.explainer().explain(TEXT, OPTIONS);
            float[] predicted = softmax(served.logits(served.encoder().encode(List.of(TEXT))).join().floats());
            assertThat(explained.probabilities()).containsExactly(predicted, org.assertj.core.data.Offset.offset(1e-5f));
        } catch (NotImplementedException refused) {
            assertThat(refused).hasMessageContaining("written over in place").hasMessageContaining("reload the model");
        }
    }

    @Test
    void aModelWithExternalDataServesAndIsExplainedFromItsPin() throws Exception {
        // given: the word table kept as external data beside model.onnx, as exporters write large models
        ai.onnx.proto.OnnxMl.ModelProto model = TinyClassifier.model("Tanh", 5);
        ai.onnx.proto.OnnxMl.GraphProto.Builder graph = model.getGraph().toBuilder();
        int at = graph.getInitializerList().stream().map(ai.onnx.proto.OnnxMl.TensorProto::getName).toList().indexOf("word_embeddings");
        ai.onnx.proto.OnnxMl.TensorProto table = graph.getInitializer(at);
        float[] values = dev.igate.predictor.onnx.OnnxProtos.floatValues(table);
        java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocate(values.length * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        bytes.asFloatBuffer().put(values);
        graph.setInitializer(at, ai.onnx.proto.OnnxMl.TensorProto.newBuilder().setName("word_embeddings")
                .setDataType(ai.onnx.proto.OnnxMl.TensorProto.DataType.FLOAT_VALUE).addAllDims(table.getDimsList())
                .setDataLocation(ai.onnx.proto.OnnxMl.TensorProto.DataLocation.EXTERNAL)
                .addExternalData(ai.onnx.proto.OnnxMl.StringStringEntryProto.newBuilder().setKey("location").setValue("model.onnx.data"))
                .addExternalData(ai.onnx.proto.OnnxMl.StringStringEntryProto.newBuilder().setKey("offset").setValue("0"))
                .addExternalData(ai.onnx.proto.OnnxMl.StringStringEntryProto.newBuilder().setKey("length")
                        .setValue(Integer.toString(values.length * 4))));
        Path version = folder.resolve("models").resolve("External").resolve("1");
        TinyClassifier.write(version, "Tanh", 5);
        Files.write(version.resolve("model.onnx"), model.toBuilder().setGraph(graph).build().toByteArray());
        Files.write(version.resolve("model.onnx.data"), bytes.array());
        harness = new RegistryHarness(folder);
        ServedModel served = harness.start(Map.of()).resolve("External", "1");

        // when / then: it predicts and explains (ONNX Runtime found the data beside the pinned file)
        float[] predicted = softmax(served.logits(served.encoder().encode(List.of(TEXT))).join().floats());
        Explanation explained = served.explainer().explain(TEXT, OPTIONS);
        assertThat(explained.probabilities()).containsExactly(predicted, org.assertj.core.data.Offset.offset(1e-5f));
    }
}
