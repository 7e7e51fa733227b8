package dev.igate.demo;

import static dev.igate.predictor.onnx.OnnxProtos.floats;
import static dev.igate.predictor.onnx.OnnxProtos.intAttr;
import static dev.igate.predictor.onnx.OnnxProtos.ints;
import static dev.igate.predictor.onnx.OnnxProtos.node;
import static dev.igate.predictor.onnx.OnnxProtos.tensorValue;

import java.util.List;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;

/**
 * Appends a sequence-classification head to a sentence encoder's ONNX graph: attention-masked
 * mean pooling of {@code last_hidden_state}, L2 normalisation (as sentence-transformers does for
 * MiniLM), then a linear layer. Uses only opset-11 operators.
 */
public final class ClassifierHead {

    public static final String ENCODER_OUTPUT = "last_hidden_state";
    public static final String EMBEDDING_OUTPUT = "sentence_embedding";
    public static final String LOGITS_OUTPUT = "logits";

    private ClassifierHead() {
    }

    /** The encoder with pooling only: outputs {@code sentence_embedding [batch, hidden]}. */
    public static ModelProto pooling(ModelProto encoder, int hidden) {
        GraphProto.Builder g = encoder.getGraph().toBuilder();
        addPooling(g);
        g.clearOutput().addOutput(tensorValue(EMBEDDING_OUTPUT, TensorProto.DataType.FLOAT, "batch", (long) hidden));
        return encoder.toBuilder().setGraph(g).build();
    }

    /**
     * The encoder with pooling and a linear layer: outputs {@code logits [batch, classes]}.
     *
     * @param weights {@code [hidden, classes]} row-major
     * @param bias    {@code [classes]}
     */
    public static ModelProto classifier(ModelProto encoder, int hidden, int classes, float[] weights, float[] bias) {
        GraphProto.Builder g = encoder.getGraph().toBuilder();
        addPooling(g);
        g.addInitializer(floats("classifier.weight", new long[] {hidden, classes}, weights));
        g.addInitializer(floats("classifier.bias", new long[] {classes}, bias));
        g.addNode(node("MatMul", "/classifier/MatMul", List.of(EMBEDDING_OUTPUT, "classifier.weight"),
                List.of("/classifier/MatMul_output_0")));
        g.addNode(node("Add", "/classifier/Add", List.of("/classifier/MatMul_output_0", "classifier.bias"),
                List.of(LOGITS_OUTPUT)));
        g.clearOutput().addOutput(tensorValue(LOGITS_OUTPUT, TensorProto.DataType.FLOAT, "batch", (long) classes));
        return encoder.toBuilder().setGraph(g).build();
    }

    private static void addPooling(GraphProto.Builder g) {
        g.addInitializer(floats("pooler.epsilon", new long[0], new float[] {1e-12f}));
        g.addNode(node("Cast", "/pooler/Cast", List.of("attention_mask"), List.of("/pooler/mask"),
                intAttr("to", TensorProto.DataType.FLOAT_VALUE)));
        g.addNode(node("Unsqueeze", "/pooler/Unsqueeze", List.of("/pooler/mask"), List.of("/pooler/mask3"),
                ints("axes", 2)));
        g.addNode(node("Mul", "/pooler/Mul", List.of(ENCODER_OUTPUT, "/pooler/mask3"), List.of("/pooler/masked")));
        g.addNode(node("ReduceSum", "/pooler/ReduceSum", List.of("/pooler/masked"), List.of("/pooler/sum"),
                ints("axes", 1), intAttr("keepdims", 0)));
        g.addNode(node("ReduceSum", "/pooler/ReduceSum_1", List.of("/pooler/mask3"), List.of("/pooler/count"),
                ints("axes", 1), intAttr("keepdims", 0)));
        g.addNode(node("Div", "/pooler/Div", List.of("/pooler/sum", "/pooler/count"), List.of("/pooler/mean")));
        g.addNode(node("Mul", "/normalize/Mul", List.of("/pooler/mean", "/pooler/mean"), List.of("/normalize/square")));
        g.addNode(node("ReduceSum", "/normalize/ReduceSum", List.of("/normalize/square"), List.of("/normalize/sumsq"),
                ints("axes", 1), intAttr("keepdims", 1)));
        g.addNode(node("Sqrt", "/normalize/Sqrt", List.of("/normalize/sumsq"), List.of("/normalize/norm")));
        g.addNode(node("Add", "/normalize/Add", List.of("/normalize/norm", "pooler.epsilon"), List.of("/normalize/norm_eps")));
        g.addNode(node("Div", "/normalize/Div", List.of("/pooler/mean", "/normalize/norm_eps"), List.of(EMBEDDING_OUTPUT)));
    }
}
