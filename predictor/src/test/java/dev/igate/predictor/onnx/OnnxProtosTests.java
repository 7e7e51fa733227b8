package dev.igate.predictor.onnx;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading model files: mapped, and with initializers kept as external data. */
class OnnxProtosTests {

    @TempDir
    Path work;

    @Test
    void aMappedReadGivesTheModelAReadGivesAndACopyFindsItsOriginalsExternalData() throws Exception {
        ModelProto model = Int8QuantizerTests.model();
        Path folder = Files.createDirectories(work.resolve("model"));
        // the word table kept beside the file, as exporters write large models
        GraphProto.Builder graph = model.getGraph().toBuilder();
        TensorProto words = graph.getInitializer(0);
        assertThat(words.getName()).isEqualTo("words");
        Files.write(folder.resolve("words.bin"), words.getRawData().toByteArray());
        graph.setInitializer(0, words.toBuilder().clearRawData().setDataLocation(TensorProto.DataLocation.EXTERNAL)
                .addExternalData(StringStringEntryProto.newBuilder().setKey("location").setValue("words.bin")));
        Path file = folder.resolve("model.onnx");
        OnnxProtos.write(file, model.toBuilder().setGraph(graph).build());

        ModelProto read = OnnxProtos.read(file);
        assertThat(read.getGraph().getInitializer(0).getRawData()).isEqualTo(words.getRawData());
        assertThat(OnnxProtos.readMapped(file)).isEqualTo(read);

        // a copy elsewhere (what int8 on load maps) reads its external data from the original's folder
        Path copy = Files.createDirectories(work.resolve("elsewhere")).resolve("copy.onnx");
        Files.copy(file, copy);
        assertThat(OnnxProtos.readMapped(copy, folder)).isEqualTo(read);
    }
}
