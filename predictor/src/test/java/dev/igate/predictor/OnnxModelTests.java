package dev.igate.predictor;

import static dev.igate.predictor.onnx.OnnxProtos.floats;
import static dev.igate.predictor.onnx.OnnxProtos.node;
import static dev.igate.predictor.onnx.OnnxProtos.tensorValue;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.igate.protocol.Datatype;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Tensor;
import dev.igate.protocol.TensorMetadata;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** A tiny linear model built here: y[batch, 2] = x[batch, 3] · W + b. */
public class OnnxModelTests {

    static OnnxModel model;

    public static byte[] linearModel() {
        GraphProto graph = GraphProto.newBuilder().setName("linear")
                .addInput(tensorValue("x", TensorProto.DataType.FLOAT, "batch", 3L))
                .addOutput(tensorValue("y", TensorProto.DataType.FLOAT, "batch", 2L))
                .addInitializer(floats("W", new long[] {3, 2}, new float[] {1, 0, 0, 1, 1, 1}))
                .addInitializer(floats("b", new long[] {2}, new float[] {0.5f, -0.5f}))
                .addNode(node("MatMul", "mm", List.of("x", "W"), List.of("xw")))
                .addNode(node("Add", "add", List.of("xw", "b"), List.of("y")))
                .build();
        return ModelProto.newBuilder().setIrVersion(7)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13))
                .setGraph(graph).build().toByteArray();
    }

    @BeforeAll
    static void load() throws Exception {
        model = OnnxModel.load(linearModel(), new SessionSettings("auto", 1, 1, "all"), "linear test model");
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void metadataDescribesTheSessionTensors() {
        assertThat(model.inputs()).singleElement().satisfies(t -> {
            assertThat(t.name()).isEqualTo("x");
            assertThat(t.datatype()).isEqualTo(Datatype.FP32);
            assertThat(t.shape()).containsExactly(-1, 3);
        });
        assertThat(model.outputs()).extracting(TensorMetadata::name).containsExactly("y");
        assertThat(model.provider()).isEqualTo(ExecutionProvider.CPU);
    }

    @Test
    void runComputesTheGraph() {
        Tensor x = Tensor.ofFloats("x", new long[] {2, 3}, new float[] {1, 2, 3, 0, 0, 1});

        Tensor y = model.run(List.of(x), List.of()).get(0);

        assertThat(y.name()).isEqualTo("y");
        assertThat(y.shape()).containsExactly(2, 2);
        assertThat(y.floats()).containsExactly(4.5f, 4.5f, 1.5f, 0.5f);
    }

    @Test
    void unknownInputNameListsTheExpectedOnes() {
        Tensor z = Tensor.ofFloats("z", new long[] {1, 3}, new float[3]);

        assertThatThrownBy(() -> model.run(List.of(z), List.of())).isInstanceOf(InvalidInputException.class)
                .hasMessage("Unknown input name z, expected one of [x]");
    }

    @Test
    void wrongDatatypeIsRejectedBeforeNativeCode() {
        Tensor x = Tensor.ofLongs("x", new long[] {1, 3}, new long[3]);

        assertThatThrownBy(() -> model.run(List.of(x), List.of())).hasMessage("Input x must have datatype FP32, was INT64");
    }

    @Test
    void wrongShapeIsRejected() {
        Tensor x = Tensor.ofFloats("x", new long[] {1, 4}, new float[4]);

        assertThatThrownBy(() -> model.run(List.of(x), List.of())).hasMessageContaining("must have shape [-1, 3]");
    }

    @Test
    void missingInputAndUnknownOutputAreRejected() {
        assertThatThrownBy(() -> model.run(List.of(), List.of())).hasMessageContaining("Missing inputs [x]");
        Tensor x = Tensor.ofFloats("x", new long[] {1, 3}, new float[3]);
        assertThatThrownBy(() -> model.run(List.of(x), List.of("nope"))).hasMessage("Unknown output name nope, expected one of [y]");
    }

    @Test
    void cudaDeviceWithoutTheGpuBuildFailsToLoadClearly() {
        assertThatThrownBy(() -> OnnxModel.load(linearModel(), new SessionSettings("cuda:0", 1, 1, "all"), "x"))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("CUDA");
    }
}
