package dev.igate.explainer;

import static dev.igate.explainer.GradientCheck.Values.AWAY_FROM_ZERO;
import static dev.igate.explainer.GradientCheck.Values.POSITIVE;
import static dev.igate.predictor.onnx.OnnxProtos.floatAttr;
import static dev.igate.predictor.onnx.OnnxProtos.floats;
import static dev.igate.predictor.onnx.OnnxProtos.intAttr;
import static dev.igate.predictor.onnx.OnnxProtos.ints;
import static dev.igate.predictor.onnx.OnnxProtos.longs;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;

import ai.onnx.proto.OnnxMl.TensorProto;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Every gradient rule against central finite differences (tolerance in {@link GradientCheck}). */
class GradientRulesTests {

    static GradientCheck binary(String op, int opset, long[] x, long[] y, GradientCheck.Values yValues) {
        return new GradientCheck(opset).input("x", x).input("y", yValues, y).node(op, List.of("x", "y"), "out");
    }

    @ParameterizedTest
    @ValueSource(strings = {"Add", "Sub", "Mul", "Div"})
    void elementwiseBinaryOpsWithBroadcasting(String op) throws Exception {
        GradientCheck.Values yValues = op.equals("Div") ? POSITIVE : GradientCheck.Values.SIGNED;
        for (long[][] shapes : new long[][][] {
                {{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {4}}, {{2, 1, 4}, {2, 3, 1}}, {{3, 1}, {2, 1, 4}}}) {
            binary(op, 11, shapes[0], shapes[1], yValues).check("x");
            binary(op, 11, shapes[0], shapes[1], yValues).check("y");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"Neg", "Erf", "Tanh", "Sigmoid", "Identity", "Exp"})
    void unaryOps(String op) throws Exception {
        new GradientCheck(11).input("x", 2, 3, 4).node(op, List.of("x"), "out").check("x");
    }

    @ParameterizedTest
    @ValueSource(strings = {"Sqrt", "Log"})
    void unaryOpsOnPositiveInputs(String op) throws Exception {
        new GradientCheck(11).input("x", POSITIVE, 2, 3).node(op, List.of("x"), "out").check("x");
    }

    @Test
    void reluAwayFromItsKink() throws Exception {
        new GradientCheck(11).input("x", AWAY_FROM_ZERO, 2, 3, 4).node("Relu", List.of("x"), "out").check("x");
    }

    @Test
    void powWithConstantExponents() throws Exception {
        new GradientCheck(11).input("x", POSITIVE, 2, 3).initializer(floats("p", new long[0], new float[] {2f}))
                .node("Pow", List.of("x", "p"), "out").check("x");
        new GradientCheck(11).input("x", POSITIVE, 2, 3).initializer(floats("p", new long[0], new float[] {0.5f}))
                .node("Pow", List.of("x", "p"), "out").check("x");
        // exponents 1 and 3 take the short rule and the general one; signed inputs for the integer exponents
        new GradientCheck(11).input("x", GradientCheck.Values.SIGNED, 2, 3).initializer(floats("p", new long[0], new float[] {1f}))
                .node("Pow", List.of("x", "p"), "out").check("x");
        new GradientCheck(11).input("x", GradientCheck.Values.SIGNED, 2, 3).initializer(floats("p", new long[0], new float[] {2f}))
                .node("Pow", List.of("x", "p"), "out").check("x");
        new GradientCheck(11).input("x", POSITIVE, 2, 3).initializer(floats("p", new long[0], new float[] {3f}))
                .node("Pow", List.of("x", "p"), "out").check("x");
    }

    @Test
    void aGatedGraphSkipsItsBackwardPassWhenAskedForOutputsAlone() throws Exception {
        // weights as initializers, read by the backward nodes from the Ifs' outer scope; Tanh's backward and MatMul's in
        // two Ifs, the gradient of h passed from the first to the second
        new GradientCheck(11).input("x", 2, 3, 4).initializer(floats("w", new long[] {4, 5}, new float[] {
                        0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f, 0.7f, -0.8f, 0.9f, 1.0f, -0.1f, 0.2f, 0.3f, -0.4f, 0.5f, 0.6f, 0.7f, -0.8f, 0.9f, 0.1f}))
                .node("MatMul", List.of("x", "w"), "h").node("Tanh", List.of("h"), "out").checkGated("x", 2);
        // rules that write no node (Identity's) repeat a cut: no empty segment; a value of the first segment read by the third
        new GradientCheck(11).input("x", 2, 3, 4)
                .node("Tanh", List.of("x"), "a").node("Identity", List.of("a"), "b").node("Sigmoid", List.of("b"), "c")
                .node("Mul", List.of("c", "a"), "d").node("Identity", List.of("d"), "out").checkGated("x", 3);
    }

    @Test
    void matMulPlainBatchedAndBroadcast() throws Exception {
        binary("MatMul", 11, new long[] {2, 3, 4}, new long[] {4, 5}, GradientCheck.Values.SIGNED).check("x");
        binary("MatMul", 11, new long[] {2, 3, 4}, new long[] {4, 5}, GradientCheck.Values.SIGNED).check("y");
        binary("MatMul", 11, new long[] {2, 2, 3, 4}, new long[] {2, 2, 4, 3}, GradientCheck.Values.SIGNED).check("x");
        binary("MatMul", 11, new long[] {2, 2, 3, 4}, new long[] {2, 2, 4, 3}, GradientCheck.Values.SIGNED).check("y");
        binary("MatMul", 11, new long[] {2, 3, 4}, new long[] {1, 4, 5}, GradientCheck.Values.SIGNED).check("y");
    }

    @Test
    void gemmWithTranspositionsAndBroadcastBias() throws Exception {
        for (int ta = 0; ta < 2; ta++) {
            for (int tb = 0; tb < 2; tb++) {
                long[] a = ta == 0 ? new long[] {3, 4} : new long[] {4, 3};
                long[] b = tb == 0 ? new long[] {4, 5} : new long[] {5, 4};
                for (String wrt : List.of("a", "b", "c")) {
                    new GradientCheck(11).input("a", a).input("b", b).input("c", 5)
                            .node("Gemm", List.of("a", "b", "c"), "out", floatAttr("alpha", 0.7f), floatAttr("beta", 1.3f),
                                    intAttr("transA", ta), intAttr("transB", tb))
                            .check(wrt);
                }
            }
        }
    }

    @Test
    void reductionsWithAndWithoutKeepdimsAcrossOpsets() throws Exception {
        new GradientCheck(11).input("x", 2, 3, 4).node("ReduceMean", List.of("x"), "out", ints("axes", -1)).check("x");
        new GradientCheck(11).input("x", 2, 3, 4)
                .node("ReduceMean", List.of("x"), "out", ints("axes", 1), intAttr("keepdims", 0)).check("x");
        new GradientCheck(11).input("x", 2, 3, 4).node("ReduceSum", List.of("x"), "out", ints("axes", 0, 2)).check("x");
        new GradientCheck(13).input("x", 2, 3, 4).initializer(longs("axes", new long[] {1}, new long[] {1}))
                .node("ReduceSum", List.of("x", "axes"), "out", intAttr("keepdims", 0)).check("x");
        new GradientCheck(11).input("x", 2, 3).node("ReduceSum", List.of("x"), "out", intAttr("keepdims", 0)).check("x");
    }

    @Test
    void reduceMaxAndMinSendTheGradientToTheExtremeAcrossOpsets() throws Exception {
        // (the fixed random draw of these shapes leaves no two candidates within the finite difference's step)
        for (String op : List.of("ReduceMax", "ReduceMin")) {
            new GradientCheck(11).input("x", 2, 3, 3).node(op, List.of("x"), "out", ints("axes", -1)).check("x");
            new GradientCheck(13).input("x", 2, 3, 2).node(op, List.of("x"), "out", ints("axes", 1), intAttr("keepdims", 0)).check("x");
            new GradientCheck(18).input("x", 2, 3, 3).initializer(longs("axes", new long[] {1}, new long[] {-1}))
                    .node(op, List.of("x", "axes"), "out", intAttr("keepdims", 0)).check("x");
        }
    }

    @Test
    void shapeOpsReshapeSqueezeUnsqueezeFlattenTransposeExpand() throws Exception {
        new GradientCheck(11).input("x", 2, 3, 4).initializer(longs("s", new long[] {2}, new long[] {6, 4}))
                .node("Reshape", List.of("x", "s"), "out").check("x");
        new GradientCheck(11).input("x", 2, 1, 4).node("Squeeze", List.of("x"), "out", ints("axes", 1)).check("x");
        new GradientCheck(11).input("x", 2, 4).node("Unsqueeze", List.of("x"), "out", ints("axes", 1)).check("x");
        new GradientCheck(13).input("x", 2, 4).initializer(longs("axes", new long[] {1}, new long[] {0}))
                .node("Unsqueeze", List.of("x", "axes"), "out").check("x");
        new GradientCheck(11).input("x", 2, 3, 4).node("Flatten", List.of("x"), "out", intAttr("axis", 1)).check("x");
        new GradientCheck(11).input("x", 2, 3, 4).node("Transpose", List.of("x"), "out", ints("perm", 0, 2, 1)).check("x");
        new GradientCheck(11).input("x", 2, 3, 4).node("Transpose", List.of("x"), "out").check("x");
        new GradientCheck(11).input("x", 3, 1).initializer(longs("s", new long[] {3}, new long[] {2, 3, 4}))
                .node("Expand", List.of("x", "s"), "out").check("x");
    }

    @Test
    void softmaxAndLogSoftmaxInBothOpsetSemantics() throws Exception {
        new GradientCheck(11).input("x", 2, 3, 4).node("Softmax", List.of("x"), "out", intAttr("axis", -1)).check("x");
        new GradientCheck(11).input("x", 2, 3, 4).node("Softmax", List.of("x"), "out", intAttr("axis", 1)).check("x");
        new GradientCheck(13).input("x", 2, 3, 4).node("Softmax", List.of("x"), "out", intAttr("axis", 1)).check("x");
        new GradientCheck(13).input("x", 2, 3, 4).node("LogSoftmax", List.of("x"), "out", intAttr("axis", -1)).check("x");
    }

    @Test
    void concatSendsEachInputItsSlice() throws Exception {
        for (String wrt : List.of("x", "y")) {
            new GradientCheck(11).input("x", 2, 3, 4).input("y", 2, 2, 4)
                    .node("Concat", List.of("x", "y"), "out", intAttr("axis", 1)).check(wrt);
        }
    }

    @Test
    void sliceWithPositiveAndNegativeStarts() throws Exception {
        new GradientCheck(11).input("x", 2, 5, 3)
                .initializer(longs("starts", new long[] {1}, new long[] {1}))
                .initializer(longs("ends", new long[] {1}, new long[] {3}))
                .initializer(longs("axes", new long[] {1}, new long[] {1}))
                .node("Slice", List.of("x", "starts", "ends", "axes"), "out").check("x");
        new GradientCheck(13).input("x", 2, 5, 3)
                .initializer(longs("starts", new long[] {2}, new long[] {-2, 1}))
                .initializer(longs("ends", new long[] {2}, new long[] {Long.MAX_VALUE, 3}))
                .initializer(longs("axes", new long[] {2}, new long[] {1, 2}))
                .node("Slice", List.of("x", "starts", "ends", "axes"), "out").check("x");
    }

    @Test
    void gatherOnTheDataPathWithScalarAndRepeatedIndices() throws Exception {
        new GradientCheck(11).input("x", 2, 5, 3).initializer(longs("i", new long[0], new long[] {0}))
                .node("Gather", List.of("x", "i"), "out", intAttr("axis", 1)).check("x");
        new GradientCheck(11).input("x", 2, 5, 3).initializer(longs("i", new long[] {3}, new long[] {4, 1, 4}))
                .node("Gather", List.of("x", "i"), "out", intAttr("axis", 1)).check("x");
        new GradientCheck(11).input("x", 6, 3).initializer(longs("i", new long[] {2}, new long[] {-1, 2}))
                .node("Gather", List.of("x", "i"), "out").check("x");
    }

    @Test
    void whereRoutesGradientsByTheCondition() throws Exception {
        TensorProto cond = TensorProto.newBuilder().setName("c").setDataType(TensorProto.DataType.BOOL_VALUE)
                .addDims(3).addDims(1).addInt32Data(1).addInt32Data(0).addInt32Data(1).build();
        for (String wrt : List.of("x", "y")) {
            new GradientCheck(11).input("x", 2, 3, 4).input("y", 4).initializer(cond)
                    .node("Where", List.of("c", "x", "y"), "out").check(wrt);
        }
    }

    @Test
    void castToDoubleAndBackCarriesTheGradientInEachTensorsType() throws Exception {
        // Exp's rule multiplies the gradient by its DOUBLE output: a FLOAT gradient there fails ONNX Runtime's type check
        new GradientCheck(11).input("x", 2, 3)
                .node("Cast", List.of("x"), "wide", intAttr("to", TensorProto.DataType.DOUBLE_VALUE))
                .node("Exp", List.of("wide"), "e")
                .node("Cast", List.of("e"), "out", intAttr("to", TensorProto.DataType.FLOAT_VALUE))
                .check("x");
    }

    @Test
    void layerNormalizationAtOpset17() throws Exception {
        new GradientCheck(17).input("x", 2, 3, 4)
                .initializer(floats("gamma", new long[] {4}, new float[] {1.5f, -0.5f, 0.8f, 1.1f}))
                .initializer(floats("beta", new long[] {4}, new float[] {0.1f, 0.2f, -0.3f, 0f}))
                .node("LayerNormalization", List.of("x", "gamma", "beta"), "out", floatAttr("epsilon", 1e-5f))
                .check("x");
    }

    @Test
    void gradientsOfATensorUsedTwiceAreSummed() throws Exception {
        new GradientCheck(11).input("x", 2, 3)
                .node("Tanh", List.of("x"), "t")
                .node("Mul", List.of("x", "t"), "m")
                .node("Add", List.of("m", "x"), "out")
                .check("x");
    }

    @Test
    void anOperatorWithoutARuleNamesItselfAndTheNode() {
        GradientCheck check = new GradientCheck(11).input("x", 2, 3).node("Sin", List.of("x"), "out");

        assertThatThrownBy(() -> check.check("x")).isInstanceOf(GradientUnavailableException.class)
                .hasMessage("No gradient rule for operator Sin (node Sin_out)");
    }

    @Test
    void powWithATensorOfExponentsAndBelowOneAtZero() throws Exception {
        // a different exponent per column, broadcast over the rows
        new GradientCheck(11).input("x", POSITIVE, 2, 3).initializer(floats("p", new long[] {3}, new float[] {2f, 0.5f, 3f}))
                .node("Pow", List.of("x", "p"), "out").check("x");
    }

    @Test
    void sliceWithAStartBeforeTheFirstElementIsClamped() throws Exception {
        // start -10 on an axis of 5: Slice clamps it to 0, and so must the gradient's padding
        new GradientCheck(13).input("x", 2, 5, 3)
                .initializer(longs("starts", new long[] {1}, new long[] {-10}))
                .initializer(longs("ends", new long[] {1}, new long[] {3}))
                .initializer(longs("axes", new long[] {1}, new long[] {1}))
                .node("Slice", List.of("x", "starts", "ends", "axes"), "out").check("x");
    }

    @Test
    void triluPassesTheGradientOfTheKeptTriangle() throws Exception {
        new GradientCheck(14).input("x", 2, 4, 4).node("Trilu", List.of("x"), "out").check("x");
        new GradientCheck(14).input("x", 2, 4, 4).initializer(longs("k", new long[0], new long[] {1}))
                .node("Trilu", List.of("x", "k"), "out", intAttr("upper", 0)).check("x");
    }

    @Test
    void layerNormalizationAtOpset18WhereReduceMeanTakesItsAxesAsAnInput() throws Exception {
        new GradientCheck(18).input("x", 2, 3, 4)
                .initializer(floats("gamma", new long[] {4}, new float[] {1.5f, -0.5f, 0.8f, 1.1f}))
                .initializer(floats("beta", new long[] {4}, new float[] {0.1f, 0.2f, -0.3f, 0f}))
                .node("LayerNormalization", List.of("x", "gamma", "beta"), "out", floatAttr("epsilon", 1e-5f))
                .check("x");
    }

    @Test
    void absAndSoftplus() throws Exception {
        new GradientCheck(11).input("x", AWAY_FROM_ZERO, 2, 3).node("Abs", List.of("x"), "out").check("x");
        new GradientCheck(11).input("x", 2, 3).node("Softplus", List.of("x"), "out").check("x");
    }

    @Test
    void clipPassesTheGradientOnlyWithinItsBounds() throws Exception {
        // bounds as inputs (opset 11): the positive half is clipped at 0, the negative half passes
        new GradientCheck(11).input("x", AWAY_FROM_ZERO, 2, 4)
                .initializer(floats("lo", new long[0], new float[] {-10f}))
                .initializer(floats("hi", new long[0], new float[] {0f}))
                .node("Clip", List.of("x", "lo", "hi"), "out").check("x");
        // only a lower bound (opset 13): the negative half is clipped at 0
        new GradientCheck(13).input("x", AWAY_FROM_ZERO, 2, 4)
                .initializer(floats("lo", new long[0], new float[] {0f}))
                .node("Clip", List.of("x", "lo"), "out").check("x");
    }

    @Test
    void maxAndMinRouteTheGradientToTheChosenInput() throws Exception {
        binary("Max", 13, new long[] {2, 3}, new long[] {3}, GradientCheck.Values.SIGNED).check("x");
        binary("Min", 13, new long[] {2, 3}, new long[] {2, 3}, GradientCheck.Values.SIGNED).check("x");
    }

    @Test
    void geluExactAndTanhApproximated() throws Exception {
        new GradientCheck(20).input("x", 2, 5).node("Gelu", List.of("x"), "out").check("x");
        new GradientCheck(20).input("x", 2, 5).node("Gelu", List.of("x"), "out", ai.onnx.proto.OnnxMl.AttributeProto.newBuilder()
                .setName("approximate").setType(ai.onnx.proto.OnnxMl.AttributeProto.AttributeType.STRING)
                .setS(com.google.protobuf.ByteString.copyFromUtf8("tanh")).build()).check("x");
    }

    @Test
    void anOperatorOfAnotherDomainIsNotTakenForTheOnnxOneOfTheSameName() {
        // com.microsoft's Trilu is not ONNX's (even where they agree); an operator names its domain when it has no rule
        GradientCheck check = new GradientCheck(14).input("x", 2, 3, 3)
                .node(contrib("Trilu", List.of("x"), List.of("out")), "out");

        assertThatThrownBy(() -> check.check("x")).isInstanceOf(GradientUnavailableException.class)
                .hasMessage("No gradient rule for operator com.microsoft:Trilu (node fused_out)");
    }

    static ai.onnx.proto.OnnxMl.NodeProto contrib(String op, List<String> in, List<String> out,
                                                  ai.onnx.proto.OnnxMl.AttributeProto... attributes) {
        return ai.onnx.proto.OnnxMl.NodeProto.newBuilder().setOpType(op).setDomain("com.microsoft").setName("fused_" + out.get(0))
                .addAllInput(in).addAllOutput(out).addAllAttribute(List.of(attributes)).build();
    }

    @Test
    void aGradientThroughAnUntrackedOutputIsRefusedNotDropped() {
        // LayerNormalization's mean feeds the output: it must say so, not lose that gradient
        GradientCheck check = new GradientCheck(17).input("x", 2, 4)
                .initializer(floats("gamma", new long[] {4}, new float[] {1f, 1f, 1f, 1f}))
                .node(ai.onnx.proto.OnnxMl.NodeProto.newBuilder().setOpType("LayerNormalization").setName("norm").addInput("x")
                        .addInput("gamma").addOutput("normalized").addOutput("mean").build(), "mean")
                .node("Tanh", List.of("mean"), "out");

        assertThatThrownBy(() -> check.check("x")).isInstanceOf(GradientUnavailableException.class)
                .hasMessageContaining("output mean of operator LayerNormalization (node norm)");
    }

    @Test
    void splitConcatenatesThePartsGradientsWithZerosForAnUnusedPart() throws Exception {
        // three parts along axis 1 (sizes from the split input, opset 13); the middle one unused
        new GradientCheck(13).input("x", 2, 6).initializer(longs("sizes", new long[] {3}, new long[] {1, 2, 3}))
                .node(ai.onnx.proto.OnnxMl.NodeProto.newBuilder().setOpType("Split").setName("split").addInput("x").addInput("sizes")
                        .addOutput("a").addOutput("b").addOutput("c").addAttribute(intAttr("axis", 1)).build(), "c")
                .node("Tanh", List.of("c"), "tc")
                .initializer(longs("reduced", new long[] {1}, new long[] {1}))
                .node("ReduceSum", List.of("tc", "reduced"), "sc")
                .node("Mul", List.of("a", "sc"), "out").check("x");
    }

    @Test
    void fusedMatMulWithTranspositionsScaleAndBatches() throws Exception {
        for (int ta = 0; ta < 2; ta++) {
            for (int tb = 0; tb < 2; tb++) {
                long[] a = ta == 0 ? new long[] {2, 3, 4} : new long[] {2, 4, 3};
                long[] b = tb == 0 ? new long[] {4, 5} : new long[] {5, 4};
                for (String wrt : List.of("a", "b")) {
                    new GradientCheck(13).input("a", a).input("b", b)
                            .node(contrib("FusedMatMul", List.of("a", "b"), List.of("out"), floatAttr("alpha", 0.7f),
                                    intAttr("transA", ta), intAttr("transB", tb)), "out")
                            .check(wrt);
                }
            }
        }
    }

    @Test
    void einsumOfTwoOperandsAndATransposeAndAnImplicitOutput() throws Exception {
        ai.onnx.proto.OnnxMl.AttributeProto bhqd = equation("bhqd,bhkd->bhqk");
        for (String wrt : List.of("x", "y")) {
            new GradientCheck(12).input("x", 2, 2, 3, 4).input("y", 2, 2, 5, 4).node("Einsum", List.of("x", "y"), "out", bhqd).check(wrt);
            new GradientCheck(12).input("x", 3, 4).input("y", 4, 5).node("Einsum", List.of("x", "y"), "out", equation("ij,jk")).check(wrt);
        }
        new GradientCheck(12).input("x", 2, 3, 4).node("Einsum", List.of("x"), "out", equation("abc->cab")).check("x");
        GradientCheck trace = new GradientCheck(12).input("x", 3, 3).node("Einsum", List.of("x"), "out", equation("ii->i"));
        assertThatThrownBy(() -> trace.check("x")).isInstanceOf(GradientUnavailableException.class).hasMessageContaining("repeated");
    }

    static ai.onnx.proto.OnnxMl.AttributeProto equation(String e) {
        return ai.onnx.proto.OnnxMl.AttributeProto.newBuilder().setName("equation")
                .setType(ai.onnx.proto.OnnxMl.AttributeProto.AttributeType.STRING).setS(com.google.protobuf.ByteString.copyFromUtf8(e)).build();
    }

    @Test
    void fusedGemmWithEachActivation() throws Exception {
        for (String activation : List.of("Relu", "Tanh", "Sigmoid", "LeakyRelu")) {
            for (String wrt : List.of("a", "b", "c")) {
                new GradientCheck(13).input("a", AWAY_FROM_ZERO, 3, 4).input("b", 4, 5).input("c", 5)
                        .node(contrib("FusedGemm", List.of("a", "b", "c"), List.of("out"), floatAttr("alpha", 0.7f),
                                ai.onnx.proto.OnnxMl.AttributeProto.newBuilder().setName("activation")
                                        .setType(ai.onnx.proto.OnnxMl.AttributeProto.AttributeType.STRING)
                                        .setS(com.google.protobuf.ByteString.copyFromUtf8(activation)).build(),
                                floatAttr("activation_alpha", 0.2f)), "out")
                        .check(wrt);
            }
        }
    }

    @Test
    void biasGeluFastGeluAndQuickGelu() throws Exception {
        for (String op : List.of("BiasGelu", "FastGelu")) {
            for (String wrt : List.of("x", "bias")) {
                new GradientCheck(13).input("x", 2, 3, 5).input("bias", 5)
                        .node(contrib(op, List.of("x", "bias"), List.of("out")), "out").check(wrt);
            }
        }
        new GradientCheck(13).input("x", 2, 5).node(contrib("FastGelu", List.of("x"), List.of("out")), "out").check("x");
        new GradientCheck(13).input("x", 2, 5).node(contrib("QuickGelu", List.of("x"), List.of("out"), floatAttr("alpha", 1.5f)), "out")
                .check("x");
        new GradientCheck(13).input("x", 2, 5).node(contrib("Gelu", List.of("x"), List.of("out")), "out").check("x");
    }

    @Test
    void skipLayerNormalizationThroughItsOutputAndItsSum() throws Exception {
        // output 0 and the sum (output 3) both used, as a chain of them uses the sum as the next skip
        for (String wrt : List.of("x", "skip", "bias")) {
            new GradientCheck(13).input("x", 2, 3, 4).input("skip", 2, 3, 4).input("bias", 4)
                    .initializer(floats("gamma", new long[] {4}, new float[] {1.5f, -0.5f, 0.8f, 1.1f}))
                    .initializer(floats("beta", new long[] {4}, new float[] {0.1f, 0.2f, -0.3f, 0f}))
                    .node(contrib("SkipLayerNormalization", List.of("x", "skip", "gamma", "beta", "bias"),
                            List.of("normalized", "", "", "sum"), floatAttr("epsilon", 1e-5f)), "normalized")
                    .node("Tanh", List.of("sum"), "tsum")
                    .node("Mul", List.of("normalized", "tsum"), "out")
                    .check(wrt);
        }
        for (String wrt : List.of("x", "skip")) {
            new GradientCheck(13).input("x", 2, 3, 4).input("skip", 2, 3, 4)
                    .initializer(floats("gamma", new long[] {4}, new float[] {1.5f, -0.5f, 0.8f, 1.1f}))
                    .node(contrib("SkipSimplifiedLayerNormalization", List.of("x", "skip", "gamma"), List.of("out"),
                            floatAttr("epsilon", 1e-5f)), "out")
                    .check(wrt);
        }
        new GradientCheck(13).input("x", 2, 3, 4)
                .initializer(floats("gamma", new long[] {4}, new float[] {1.5f, -0.5f, 0.8f, 1.1f}))
                .node(ai.onnx.proto.OnnxMl.NodeProto.newBuilder().setOpType("SimplifiedLayerNormalization").setName("rms")
                        .addInput("x").addInput("gamma").addOutput("out").addAttribute(floatAttr("epsilon", 1e-5f)).build(), "out")
                .check("x");
    }

    @Test
    void tileSumsTheGradientOverTheCopies() throws Exception {
        new GradientCheck(13).input("x", 2, 3).initializer(longs("repeats", new long[] {2}, new long[] {3, 2}))
                .node("Tile", List.of("x", "repeats"), "out").check("x");
    }

    @Test
    void gatherElementsSumsTheGradientOfElementsTakenTwice() throws Exception {
        // indices along axis 1, with repeats: those elements' gradients add up
        new GradientCheck(16).input("x", 2, 4)
                .initializer(longs("idx", new long[] {2, 3}, new long[] {0, 0, 3, 1, 2, 1}))
                .node("GatherElements", List.of("x", "idx"), "out", intAttr("axis", 1)).check("x");
    }
}
