package dev.igate.demo;

import static dev.igate.predictor.onnx.OnnxProtos.floats;
import static dev.igate.predictor.onnx.OnnxProtos.intAttr;
import static dev.igate.predictor.onnx.OnnxProtos.ints;
import static dev.igate.predictor.onnx.OnnxProtos.longs;
import static dev.igate.predictor.onnx.OnnxProtos.node;
import static dev.igate.predictor.onnx.OnnxProtos.tensorValue;

import java.util.List;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;

/**
 * Heads for the task demo models, appended to the sentence encoder's graph with opset-11 operators
 * the gradient builder knows:
 * <ul>
 * <li>a token head: each token's hidden state, L2-normalised, beside the previous token's, through a linear layer
 * ({@code logits [batch, tokens, classes]}, as a {@code *ForTokenClassification} model answers);</li>
 * <li>a pair head: the encoder reads both texts together (a cross-encoder: every token attends to
 * both), then the tokens of each segment (token type 0, token type 1) are mean-pooled and
 * L2-normalised into {@code u} and {@code v}, and a linear layer reads
 * {@code [u, v, u*v*s, (u-v)^2*s]} ({@code s} brings the products to the scale of the rest), as
 * sentence-pair classifiers over embeddings do.</li>
 * </ul>
 */
public final class TaskHeads {

    public static final String TOKEN_FEATURES = "token_features";
    public static final String PAIR_FEATURES = "pair_features";
    /** How the products in the pair features are scaled: the square root of the hidden width. */
    static final float PRODUCT_SCALE = (float) Math.sqrt(DemoRepository.HIDDEN);

    private TaskHeads() {
    }

    /** The encoder with the token features only: {@code token_features [batch, tokens, 2 * hidden]}. */
    public static ModelProto tokenFeatures(ModelProto encoder, int hidden) {
        GraphProto.Builder g = encoder.getGraph().toBuilder();
        addTokenFeatures(g);
        g.clearOutput().addOutput(tensorValue(TOKEN_FEATURES, TensorProto.DataType.FLOAT, "batch", "sequence", 2L * hidden));
        return encoder.toBuilder().setGraph(g).build();
    }

    /**
     * The encoder with a token-classification head: {@code logits [batch, tokens, classes]}.
     *
     * @param weights {@code [2 * hidden, classes]} row-major
     */
    public static ModelProto tokenClassifier(ModelProto encoder, int hidden, int classes, float[] weights, float[] bias) {
        GraphProto.Builder g = encoder.getGraph().toBuilder();
        addTokenFeatures(g);
        linear(g, TOKEN_FEATURES, 2 * hidden, classes, weights, bias);
        g.clearOutput().addOutput(tensorValue(ClassifierHead.LOGITS_OUTPUT, TensorProto.DataType.FLOAT, "batch", "sequence",
                (long) classes));
        return encoder.toBuilder().setGraph(g).build();
    }

    /** The encoder with the pair features only: {@code pair_features [batch, 4 * hidden]}. */
    public static ModelProto pairFeatures(ModelProto encoder, int hidden) {
        GraphProto.Builder g = encoder.getGraph().toBuilder();
        addPairFeatures(g);
        g.clearOutput().addOutput(tensorValue(PAIR_FEATURES, TensorProto.DataType.FLOAT, "batch", 4L * hidden));
        return encoder.toBuilder().setGraph(g).build();
    }

    /**
     * The encoder with a pair head: {@code logits [batch, classes]}.
     *
     * @param weights {@code [4 * hidden, classes]} row-major
     */
    public static ModelProto pairClassifier(ModelProto encoder, int hidden, int classes, float[] weights, float[] bias) {
        GraphProto.Builder g = encoder.getGraph().toBuilder();
        addPairFeatures(g);
        linear(g, PAIR_FEATURES, 4 * hidden, classes, weights, bias);
        g.clearOutput().addOutput(tensorValue(ClassifierHead.LOGITS_OUTPUT, TensorProto.DataType.FLOAT, "batch", (long) classes));
        return encoder.toBuilder().setGraph(g).build();
    }

    private static void linear(GraphProto.Builder g, String input, int features, int classes, float[] weights, float[] bias) {
        g.addInitializer(floats("classifier.weight", new long[] {features, classes}, weights));
        g.addInitializer(floats("classifier.bias", new long[] {classes}, bias));
        g.addNode(node("MatMul", "/classifier/MatMul", List.of(input, "classifier.weight"), List.of("/classifier/MatMul_output_0")));
        g.addNode(node("Add", "/classifier/Add", List.of("/classifier/MatMul_output_0", "classifier.bias"),
                List.of(ClassifierHead.LOGITS_OUTPUT)));
    }

    /** {@code output = input / (||input|| + eps)} along {@code axis}. */
    private static void normalise(GraphProto.Builder g, String input, String prefix, int axis, String output) {
        g.addInitializer(floats(prefix + ".epsilon", new long[0], new float[] {1e-12f}));
        g.addNode(node("Mul", prefix + "/Square", List.of(input, input), List.of(prefix + "/square")));
        g.addNode(node("ReduceSum", prefix + "/ReduceSum", List.of(prefix + "/square"), List.of(prefix + "/sumsq"),
                ints("axes", axis), intAttr("keepdims", 1)));
        g.addNode(node("Sqrt", prefix + "/Sqrt", List.of(prefix + "/sumsq"), List.of(prefix + "/norm")));
        g.addNode(node("Add", prefix + "/AddEps", List.of(prefix + "/norm", prefix + ".epsilon"), List.of(prefix + "/norm_eps")));
        g.addNode(node("Div", prefix + "/Div", List.of(input, prefix + "/norm_eps"), List.of(output)));
    }

    /**
     * Each token's normalised hidden state after the previous token's (zeros before the first), so
     * a linear layer sees whether a word begins an entity or goes on with one.
     */
    private static void addTokenFeatures(GraphProto.Builder g) {
        String x = "/token_head/unit";
        normalise(g, ClassifierHead.ENCODER_OUTPUT, "/token_head", 2, x);
        g.addInitializer(longs("token_head.axis", new long[] {1}, new long[] {1}));
        g.addInitializer(longs("token_head.zero", new long[] {1}, new long[] {0}));
        g.addInitializer(longs("token_head.one", new long[] {1}, new long[] {1}));
        g.addInitializer(longs("token_head.minus_one", new long[] {1}, new long[] {-1}));
        g.addInitializer(floats("token_head.nothing", new long[0], new float[] {0f}));
        slice(g, x, "token_head.zero", "token_head.one", "/token_head/first");
        slice(g, x, "token_head.zero", "token_head.minus_one", "/token_head/but_last");
        // a zero row shaped as one token: the first token's state times zero
        g.addNode(node("Mul", "/token_head/ZeroFirst", List.of("/token_head/first", "token_head.nothing"), List.of("/token_head/zero_first")));
        g.addNode(node("Concat", "/token_head/Previous", List.of("/token_head/zero_first", "/token_head/but_last"),
                List.of("/token_head/previous"), intAttr("axis", 1)));
        g.addNode(node("Concat", "/token_head/Window", List.of("/token_head/previous", x), List.of(TOKEN_FEATURES), intAttr("axis", 2)));
    }

    private static void slice(GraphProto.Builder g, String input, String starts, String ends, String output) {
        g.addNode(node("Slice", output + "/Slice", List.of(input, starts, ends, "token_head.axis"), List.of(output)));
    }

    private static void addPairFeatures(GraphProto.Builder g) {
        g.addInitializer(floats("pair_head.scale", new long[0], new float[] {PRODUCT_SCALE}));
        g.addInitializer(floats("pair_head.count_epsilon", new long[0], new float[] {1e-6f}));
        g.addNode(node("Cast", "/pair_head/CastMask", List.of("attention_mask"), List.of("/pair_head/mask"),
                intAttr("to", TensorProto.DataType.FLOAT_VALUE)));
        g.addNode(node("Cast", "/pair_head/CastTypes", List.of("token_type_ids"), List.of("/pair_head/types"),
                intAttr("to", TensorProto.DataType.FLOAT_VALUE)));
        // the second segment's tokens: type 1 and not padding; the first's: the rest of the real tokens
        g.addNode(node("Mul", "/pair_head/Second", List.of("/pair_head/types", "/pair_head/mask"), List.of("/pair_head/second")));
        g.addNode(node("Sub", "/pair_head/First", List.of("/pair_head/mask", "/pair_head/second"), List.of("/pair_head/first")));
        pool(g, "/pair_head/first", "/pair_head/u");
        pool(g, "/pair_head/second", "/pair_head/v");
        normalise(g, "/pair_head/u_mean", "/pair_head/u_norm", 1, "/pair_head/u_unit");
        normalise(g, "/pair_head/v_mean", "/pair_head/v_norm", 1, "/pair_head/v_unit");
        g.addNode(node("Mul", "/pair_head/Product", List.of("/pair_head/u_unit", "/pair_head/v_unit"), List.of("/pair_head/product")));
        g.addNode(node("Mul", "/pair_head/ScaleProduct", List.of("/pair_head/product", "pair_head.scale"),
                List.of("/pair_head/product_scaled")));
        g.addNode(node("Sub", "/pair_head/Difference", List.of("/pair_head/u_unit", "/pair_head/v_unit"),
                List.of("/pair_head/difference")));
        g.addNode(node("Mul", "/pair_head/SquareDifference", List.of("/pair_head/difference", "/pair_head/difference"),
                List.of("/pair_head/difference_squared")));
        g.addNode(node("Mul", "/pair_head/ScaleDifference", List.of("/pair_head/difference_squared", "pair_head.scale"),
                List.of("/pair_head/difference_scaled")));
        g.addNode(node("Concat", "/pair_head/Concat", List.of("/pair_head/u_unit", "/pair_head/v_unit", "/pair_head/product_scaled",
                "/pair_head/difference_scaled"), List.of(PAIR_FEATURES), intAttr("axis", 1)));
    }

    /** Mean of the hidden states over the tokens {@code weights} marks ({@code [batch, tokens]}): {@code prefix_mean}. */
    private static void pool(GraphProto.Builder g, String weights, String prefix) {
        g.addNode(node("Unsqueeze", prefix + "/Unsqueeze", List.of(weights), List.of(prefix + "/weights3"), ints("axes", 2)));
        g.addNode(node("Mul", prefix + "/Mul", List.of(ClassifierHead.ENCODER_OUTPUT, prefix + "/weights3"), List.of(prefix + "/masked")));
        g.addNode(node("ReduceSum", prefix + "/ReduceSum", List.of(prefix + "/masked"), List.of(prefix + "/sum"),
                ints("axes", 1), intAttr("keepdims", 0)));
        g.addNode(node("ReduceSum", prefix + "/Count", List.of(prefix + "/weights3"), List.of(prefix + "/count"),
                ints("axes", 1), intAttr("keepdims", 0)));
        g.addNode(node("Add", prefix + "/CountEps", List.of(prefix + "/count", "pair_head.count_epsilon"), List.of(prefix + "/count_eps")));
        g.addNode(node("Div", prefix + "/Div", List.of(prefix + "/sum", prefix + "/count_eps"), List.of(prefix + "_mean")));
    }
}
