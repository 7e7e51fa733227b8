package dev.igate.explainer;

import static dev.igate.explainer.GraphWriter.range;
import static dev.igate.explainer.GraphWriter.toArray;
import static dev.igate.predictor.onnx.OnnxProtos.floats;
import static dev.igate.predictor.onnx.OnnxProtos.intAttr;
import static dev.igate.predictor.onnx.OnnxProtos.tensorValue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.igate.predictor.onnx.OnnxProtos;

/**
 * Reverse-mode differentiation of an ONNX graph, written as more ONNX nodes: given a
 * differentiable input {@code wrt}, an output {@code y} and a seed input {@code s} of y's shape,
 * it appends the nodes computing {@code d(Σ s ⊙ y) / d wrt} and exposes them as the graph output
 * {@code grad_<wrt>}.
 *
 * <p>Only the float path from {@code wrt} to {@code y} is differentiated; integer and shape
 * computations are left alone. Gradients of broadcast operands are summed back to the operand's
 * shape; which axes were broadcast is read from {@code shapes}, tensor shapes observed on a probe
 * run whose variable dimensions are all greater than one.
 */
public final class GradientBuilder {

    /** Operators whose outputs carry no gradient (shape, comparison and index computations). */
    static final Set<String> NON_DIFFERENTIABLE = Set.of("Shape", "Size", "Equal", "Greater", "GreaterOrEqual", "Less",
            "LessOrEqual", "Not", "And", "Or", "Xor", "ArgMax", "ArgMin", "NonZero", "ConstantOfShape", "Range",
            "IsNaN", "IsInf", "Sign", "Floor", "Ceil", "OneHot", "Constant", "EyeLike", "RandomNormalLike",
            "RandomUniformLike");

    /** Operators with a gradient rule, and for each the inputs that can carry a gradient. */
    static final Map<String, int[]> RULES = new LinkedHashMap<>();

    static {
        for (String op : List.of("Add", "Sub", "Mul", "Div", "MatMul", "Sum")) {
            RULES.put(op, new int[] {0, 1, 2, 3, 4, 5, 6, 7});
        }
        for (String op : List.of("Neg", "Sqrt", "Erf", "Tanh", "Sigmoid", "Relu", "Exp", "Log", "Identity", "Dropout",
                "Cast", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Transpose", "Expand", "Softmax", "LogSoftmax",
                "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "Slice", "Gather", "Pow", "LayerNormalization", "Trilu", "Abs", "Softplus",
                "Gelu", "Clip", "Tile")) {
            RULES.put(op, new int[] {0});
        }
        for (String op : List.of("Max", "Min")) {
            RULES.put(op, new int[] {0, 1, 2, 3, 4, 5, 6, 7});
        }
        RULES.put("Gemm", new int[] {0, 1, 2});
        RULES.put("FusedGemm", new int[] {0, 1, 2});
        RULES.put("GatherElements", new int[] {0});
        RULES.put("Where", new int[] {1, 2});
        RULES.put("Concat", new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15});
        // quantization, straight through: the forward values stay quantized, gradients pass as if
        // quantizing were the identity on the float values the integers stand for
        for (String op : List.of("DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear")) {
            RULES.put(op, new int[] {0});
        }
        // quantization written out of ONNX operators (x / step, Round, then a Cast to 8-bit integers): Round
        // passes the gradient on, as quantization-aware training takes it
        RULES.put("Round", new int[] {0});
        RULES.put("MatMulInteger", new int[] {0, 1});
        // ONNX Runtime's fused operators (graph optimization), each differentiated as the operators it replaces
        RULES.put("FusedMatMul", new int[] {0, 1});
        RULES.put("BiasGelu", new int[] {0, 1});
        RULES.put("FastGelu", new int[] {0, 1});
        RULES.put("QuickGelu", new int[] {0});
        RULES.put("SkipLayerNormalization", new int[] {0, 1, 4});
        RULES.put("SkipSimplifiedLayerNormalization", new int[] {0, 1, 3});
        RULES.put("SimplifiedLayerNormalization", new int[] {0});
        RULES.put("Split", new int[] {0});
        RULES.put("Einsum", new int[] {0, 1});
        RULES.put("MatMulIntegerToFloat", new int[] {0, 1});
        RULES.put("DynamicQuantizeMatMul", new int[] {0, 1});
    }

    /**
     * Quantization operators: straight-through rules, and only their first output carries a
     * gradient (DynamicQuantizeLinear's scale and zero point are taken as constants).
     */
    static final Set<String> STRAIGHT_THROUGH = Set.of("DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear",
            "MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat");

    /** ONNX Runtime's contrib operators (domain com.microsoft) whose rules are written here. */
    static final Set<String> CONTRIB_RULES = Set.of("Gelu", "FusedGemm", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "FusedMatMul",
            "BiasGelu", "FastGelu", "QuickGelu", "SkipLayerNormalization", "SkipSimplifiedLayerNormalization",
            "SimplifiedLayerNormalization", "LayerNormalization");

    /**
     * Outputs that carry a gradient, by operator; every other operator's first output only. An
     * operator's other outputs (LayerNormalization's mean, say) stop the gradient, and a model that
     * uses one on the path gets no gradient graph rather than a wrong one.
     */
    static int[] trackedOutputs(NodeProto n) {
        return switch (n.getOpType()) {
            case "Split" -> toInts(range(0, n.getOutputCount()));
            // the sum input + skip + bias, which the next SkipLayerNormalization of a chain takes as its skip
            case "SkipLayerNormalization", "SkipSimplifiedLayerNormalization" -> new int[] {0, 3};
            default -> new int[] {0};
        };
    }

    private static int[] toInts(long[] values) {
        int[] out = new int[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = (int) values[i];
        }
        return out;
    }

    private final GraphProto.Builder graph;
    private final GraphWriter w;
    private final Map<String, long[]> shapes;
    private final Map<String, TensorProto> constants = new HashMap<>();
    private final Map<String, List<String>> grads = new HashMap<>();
    /** Element types of the gradient contributions and sums written, by name. */
    private final Map<String, TensorProto.DataType> gradTypes = new HashMap<>();
    /** Node counts of the graph before each forward node's backward nodes: where the backward pass may be cut. */
    private final List<Integer> cuts = new ArrayList<>();

    private final Set<String> differentiable;
    private final Map<String, TensorProto.DataType> types;

    private GradientBuilder(ModelProto model, Map<String, long[]> shapes, Path path) {
        this.differentiable = path.differentiable();
        this.types = path.probed();
        this.graph = model.getGraph().toBuilder();
        this.w = new GraphWriter(graph, opset(model));
        this.shapes = shapes;
        for (TensorProto t : graph.getInitializerList()) {
            constants.put(t.getName(), t);
        }
        for (NodeProto n : graph.getNodeList()) {
            if (n.getOpType().equals("Constant")) {
                for (AttributeProto a : n.getAttributeList()) {
                    if (a.getName().equals("value")) {
                        constants.put(n.getOutput(0), a.getT());
                    }
                }
            }
        }
    }

    /** The opset of the default ONNX domain. */
    static int opset(ModelProto model) {
        for (OperatorSetIdProto o : model.getOpsetImportList()) {
            if (o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx")) {
                return (int) o.getVersion();
            }
        }
        return 1;
    }

    /** Name of the gradient output for a differentiated input. */
    public static String gradName(String wrt) {
        return "grad_" + wrt;
    }

    /**
     * The differentiable path from an input to an output.
     *
     * @param nodes          nodes on it, in graph order
     * @param differentiable float tensors on it that a gradient flows through
     * @param probed         tensors whose shapes the rules need (data inputs and outputs of the nodes), each
     *                       with its element type, which its gradient has too
     */
    record Path(List<NodeProto> nodes, Set<String> differentiable, Map<String, TensorProto.DataType> probed) {
    }

    /**
     * The differentiable path from {@code wrt} to {@code output}.
     *
     * @throws GradientUnavailableException when a node on it has no rule, naming the op and the node
     */
    static Path activePath(GraphProto graph, String wrt, String output) throws GradientUnavailableException {
        Set<String> constants = new HashSet<>();
        Map<String, TensorProto.DataType> constantTypes = new HashMap<>();
        graph.getInitializerList().forEach(t -> {
            constants.add(t.getName());
            constantTypes.put(t.getName(), TensorProto.DataType.forNumber(t.getDataType()));
        });
        graph.getNodeList().stream().filter(n -> n.getOpType().equals("Constant")).forEach(n -> constants.add(n.getOutput(0)));
        Set<String> differentiable = new HashSet<>(Set.of(wrt));
        Set<String> steps = quantizationSteps(graph);
        Map<String, NodeProto> untracked = new HashMap<>();
        Map<String, TensorProto.DataType> types = new HashMap<>();
        graph.getInputList().forEach(i -> types.put(i.getName(), declaredType(graph, i.getName())));
        for (NodeProto n : graph.getNodeList()) {
            String from = carriesGradient(n) ? firstOf(dataInputs(n), differentiable) : null;
            if (from == null && n.getOutputCount() > 0) {
                // off the path, but maybe an operand of a node on it: the types that do not follow the operands
                TensorProto.DataType own = outputType(n, null, constantTypes);
                if (own != null) {
                    types.put(n.getOutput(0), own);
                }
            }
            if (from != null) {
                int[] tracked = trackedOutputs(n);
                for (int i = 0; i < n.getOutputCount(); i++) {
                    String out = n.getOutput(i);
                    if (out.isEmpty()) {
                        continue;
                    }
                    if (steps.contains(out)) {
                        // a quantization step: a constant for gradients
                        continue;
                    }
                    if (contains(tracked, i)) {
                        differentiable.add(out);
                        types.put(out, i == 0 ? outputType(n, types.get(from), constantTypes) : types.get(from));
                    } else if (!STRAIGHT_THROUGH.contains(n.getOpType())) {
                        // a gradient through another output would be lost without a word
                        untracked.put(out, n);
                        differentiable.add(out);
                    }
                }
            }
        }
        if (!differentiable.contains(output)) {
            throw new GradientUnavailableException("Output " + output + " does not depend on " + wrt);
        }
        Set<String> needed = new HashSet<>(Set.of(output));
        Map<String, TensorProto.DataType> probed = new HashMap<>();
        List<NodeProto> active = new ArrayList<>();
        List<NodeProto> nodes = graph.getNodeList();
        for (int i = nodes.size() - 1; i >= 0; i--) {
            NodeProto n = nodes.get(i);
            if (tracksNeeded(n, needed, differentiable)) {
                if (!hasRule(n)) {
                    throw new GradientUnavailableException("No gradient rule for operator "
                            + (standard(n) ? "" : n.getDomain() + ":") + n.getOpType() + " (node " + n.getName() + ")");
                }
                active.add(0, n);
                for (int o : trackedOutputs(n)) {
                    if (o < n.getOutputCount() && !n.getOutput(o).isEmpty()) {
                        probed.put(n.getOutput(o), types.get(n.getOutput(o)));
                    }
                }
                // the operators with rules bind all their data inputs to one type, so an operand that
                // carries no gradient has the type of one that does
                TensorProto.DataType operands = types.get(firstOf(dataInputs(n), differentiable));
                for (String in : dataInputs(n)) {
                    NodeProto source = untracked.get(in);
                    if (source != null) {
                        throw new GradientUnavailableException("Gradients through output " + in + " of operator "
                                + source.getOpType() + " (node " + source.getName() + ") are not supported: only a node's first output is");
                    }
                    if (differentiable.contains(in)) {
                        needed.add(in);
                    }
                    if (!constants.contains(in)) {
                        probed.put(in, types.getOrDefault(in, operands));
                    }
                }
            }
        }
        Set<String> onPath = new HashSet<>(needed);
        onPath.retainAll(differentiable);
        return new Path(active, onPath, probed);
    }

    /**
     * The step sizes of quantizations written out of ONNX operators ({@code Round(x / step)}, or
     * {@code QuantizeLinear(x / step, 1, zero point)} as Int8Quantizer's per-token activations):
     * taken as constants, as DynamicQuantizeLinear's scale
     * is, so that the quantized product's gradient is the float product's with the values quantized.
     * (Through the step, a gradient would see only the rounding error moving with the range.)
     */
    private static Set<String> quantizationSteps(GraphProto graph) {
        Map<String, NodeProto> producers = new HashMap<>();
        graph.getNodeList().forEach(n -> n.getOutputList().forEach(o -> producers.put(o, n)));
        Set<String> steps = new HashSet<>();
        for (NodeProto n : graph.getNodeList()) {
            boolean rounds = n.getOpType().equals("Round") || n.getOpType().equals("QuantizeLinear");
            NodeProto divide = standard(n) && rounds ? producers.get(n.getInput(0)) : null;
            if (divide != null && standard(divide) && divide.getOpType().equals("Div")) {
                steps.add(divide.getInput(1));
            }
        }
        return steps;
    }

    /** Whether a gradient-carrying output of {@code n} is on the path. */
    private static boolean tracksNeeded(NodeProto n, Set<String> needed, Set<String> differentiable) {
        for (int o : trackedOutputs(n)) {
            if (o < n.getOutputCount() && needed.contains(n.getOutput(o)) && differentiable.contains(n.getOutput(o))) {
                return true;
            }
        }
        return false;
    }

    /**
     * The element type of a node's first output: its data inputs' type for the operators with
     * rules, except Cast and the quantization operators.
     */
    private static TensorProto.DataType outputType(NodeProto n, TensorProto.DataType input,
                                                   Map<String, TensorProto.DataType> constantTypes) {
        return switch (n.getOpType()) {
            case "Cast" -> TensorProto.DataType.forNumber((int) attrInt(n, "to", 0));
            case "DynamicQuantizeLinear" -> TensorProto.DataType.UINT8;
            case "MatMulInteger" -> TensorProto.DataType.INT32;
            case "DequantizeLinear", "DynamicQuantizeMatMul", "MatMulIntegerToFloat" -> TensorProto.DataType.FLOAT;
            // the zero point's type, UINT8 without one (opset 21's output_dtype, when set, says it)
            case "QuantizeLinear" -> attrInt(n, "output_dtype", 0) != 0
                    ? TensorProto.DataType.forNumber((int) attrInt(n, "output_dtype", 0))
                    : n.getInputCount() > 2 && !n.getInput(2).isEmpty()
                    ? constantTypes.getOrDefault(n.getInput(2), TensorProto.DataType.UINT8) : TensorProto.DataType.UINT8;
            default -> input;
        };
    }

    /**
     * The type of a tensor's gradient: its own for floating-point tensors; FLOAT for the integers of
     * quantized tensors, whose gradients pass straight through as if they were the float values.
     */
    private static TensorProto.DataType gradientType(TensorProto.DataType type) {
        return switch (type) {
            case DOUBLE, FLOAT16, BFLOAT16 -> type;
            default -> TensorProto.DataType.FLOAT;
        };
    }

    /** The element type a graph input declares, FLOAT when it declares none. */
    private static TensorProto.DataType declaredType(GraphProto graph, String input) {
        return graph.getInputList().stream().filter(i -> i.getName().equals(input))
                .map(i -> TensorProto.DataType.forNumber(i.getType().getTensorType().getElemType()))
                .filter(t -> t != null && t != TensorProto.DataType.UNDEFINED)
                .findFirst().orElse(TensorProto.DataType.FLOAT);
    }

    private static String firstOf(List<String> tensors, Set<String> among) {
        return tensors.stream().filter(among::contains).findFirst().orElse(null);
    }

    /** Whether a node is an ONNX operator (the default domain): the only ones the rules are written for. */
    private static boolean standard(NodeProto n) {
        return n.getDomain().isEmpty() || n.getDomain().equals("ai.onnx");
    }

    /** Whether the rule of {@code n}'s operator applies: ONNX operators, and contrib ones with ONNX semantics. */
    private static boolean hasRule(NodeProto n) {
        boolean sameSemantics = standard(n) || n.getDomain().equals("com.microsoft") && CONTRIB_RULES.contains(n.getOpType());
        return sameSemantics && RULES.containsKey(n.getOpType());
    }

    private static boolean carriesGradient(NodeProto n) {
        if (standard(n) && NON_DIFFERENTIABLE.contains(n.getOpType()) || n.getOutputCount() == 0
                || n.getOpType().equals("Identity") && n.getName().startsWith(QuantizationEmulation.STOP_GRADIENT)) {
            return false;
        }
        if (n.getOpType().equals("Cast")) {
            long to = attrInt(n, "to", 0);
            // and the 8-bit integers of quantized values, straight through as the quantization operators
            return to == TensorProto.DataType.FLOAT_VALUE || to == TensorProto.DataType.DOUBLE_VALUE
                    || to == TensorProto.DataType.FLOAT16_VALUE || to == TensorProto.DataType.BFLOAT16_VALUE
                    || to == TensorProto.DataType.UINT8_VALUE || to == TensorProto.DataType.INT8_VALUE;
        }
        return true;
    }

    /** Inputs through which a gradient can flow (data, not indices, shapes or exponents). */
    private static List<String> dataInputs(NodeProto n) {
        int[] allowed = RULES.get(n.getOpType());
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n.getInputCount(); i++) {
            if (allowed == null || contains(allowed, i)) {
                if (!n.getInput(i).isEmpty()) {
                    out.add(n.getInput(i));
                }
            }
        }
        return out;
    }

    private static boolean contains(int[] a, int v) {
        for (int x : a) {
            if (x == v) {
                return true;
            }
        }
        return false;
    }

    /**
     * Builds the gradient graph.
     *
     * @param model  the forward model
     * @param wrt    the float input to differentiate with respect to
     * @param output the output to differentiate
     * @param seed   name of a new FLOAT input, of the output's shape, that weights the output
     * @param shapes tensor shapes from a probe run (see {@link ShapeProbe})
     * @throws GradientUnavailableException when an operator on the path has no rule or is used in an unsupported way
     */
    public static ModelProto build(ModelProto model, String wrt, String output, String seed, Map<String, long[]> shapes)
            throws GradientUnavailableException {
        return build(model, wrt, output, seed, null, shapes, null);
    }

    /**
     * Builds the gradient of {@code Σ_b output[b, targets[b]]} for a {@code [batch, classes]}
     * output, with the new INT64 input {@code targets [batch]} choosing each row's class.
     *
     * @throws GradientUnavailableException when an operator on the path has no rule or is used in an unsupported way
     */
    public static ModelProto buildForTargets(ModelProto model, String wrt, String output, String targets,
                                             Map<String, long[]> shapes) throws GradientUnavailableException {
        return build(model, wrt, output, null, targets, shapes, null);
    }

    /**
     * As {@link #build} ({@code targets} null) or {@link #buildForTargets} ({@code seed} null), the
     * backward nodes behind {@code If}s on a new BOOL {@code [1]} input {@code gate}: a run fed false
     * computes the forward outputs only and answers an empty gradient. ONNX Runtime runs every node of
     * a graph whatever a run fetches, so without the gate a run for logits alone (an explanation's F(x)
     * and F(baseline)) pays for a whole backward pass: 18 of 246 ms of a 16-token explanation.
     *
     * @throws GradientUnavailableException when an operator on the path has no rule or is used in an unsupported way
     */
    public static ModelProto buildGated(ModelProto model, String wrt, String output, String seed, String targets,
                                        Map<String, long[]> shapes, String gate) throws GradientUnavailableException {
        return build(model, wrt, output, seed, targets, shapes, gate);
    }

    private static ModelProto build(ModelProto model, String wrt, String output, String seed, String targets,
                                    Map<String, long[]> shapes, String gate) throws GradientUnavailableException {
        Path path = activePath(model.getGraph(), wrt, output);
        List<NodeProto> active = path.nodes();
        GradientBuilder b = new GradientBuilder(model, shapes, path);
        long[] outShape = b.shapeOf(output);
        if (targets == null) {
            b.graph.addInput(tensorValue(seed, TensorProto.DataType.FLOAT, symbolicDims("seed_dim_", outShape.length)));
            b.grads.computeIfAbsent(output, k -> new ArrayList<>()).add(seed);
        } else {
            if (outShape.length != 2) {
                throw new GradientUnavailableException("Targets need a [batch, classes] output, " + output + " has rank "
                        + outShape.length);
            }
            // seed = one-hot(targets): the gradient of Σ_b output[b, targets[b]]
            b.graph.addInput(tensorValue(targets, TensorProto.DataType.INT64, "batch"));
            String depth = b.w.op("Gather", b.w.shape(output), b.w.int64s(1));
            String values = b.w.fresh("onehot_values");
            b.graph.addInitializer(floats(values, new long[] {2}, new float[] {0f, 1f}));
            b.grads.computeIfAbsent(output, k -> new ArrayList<>())
                    .add(b.w.op("OneHot", List.of(targets, depth, values), intAttr("axis", -1)));
        }
        b.gradTypes.put(b.grads.get(output).get(0), gradientType(b.types.getOrDefault(output, TensorProto.DataType.FLOAT)));
        for (int i = active.size() - 1; i >= 0; i--) {
            b.cuts.add(b.graph.getNodeCount());
            NodeProto n = active.get(i);
            String g = b.gradOf(n.getOutput(0));
            if (g != null || b.anyOtherGradient(n)) {
                b.backward(n, g);
            }
        }
        String total = b.gradOf(wrt);
        if (total == null) {
            throw new GradientUnavailableException("No gradient reaches " + wrt);
        }
        String name = gradName(wrt);
        b.graph.addNode(OnnxProtos.node("Identity", "/grad/output", List.of(total), List.of(name)));
        b.graph.addOutput(tensorValue(name, b.types.get(wrt), symbolicDims("grad_dim_", b.shapeOf(wrt).length)));
        ModelProto gradient = model.toBuilder().setGraph(b.graph).build();
        return gate == null ? gradient : gateBackward(gradient, model.getGraph().getNodeCount(), b.cuts, b.gradTypes, gate);
    }

    /** Most If nodes the backward pass is cut into: each ends the lives of the forward values only it reads. */
    static final int GATE_SEGMENTS = 12;

    /**
     * The gradient graph with its backward nodes (those from {@code forwardNodes} on) behind
     * {@code If} nodes on {@code gate}, in up to {@link #GATE_SEGMENTS} consecutive segments cut
     * where a forward node's backward nodes begin. ONNX Runtime keeps every outer value a branch
     * reads alive until its If ends: one If for the whole backward pass held every forward
     * activation to its end (+50 MB at the memory benchmark's peak), where the ungated graph
     * freed each after its last reader; segments free them on the way. A segment's values read by
     * later segments are its If's outputs, so a cut is taken only where their types are known
     * (gradients, shapes); else branches answer empty tensors of those types.
     */
    private static ModelProto gateBackward(ModelProto gradient, int forwardNodes, List<Integer> cuts,
                                           Map<String, TensorProto.DataType> gradTypes, String gate) {
        GraphProto g = gradient.getGraph();
        List<NodeProto> nodes = g.getNodeList();
        int end = nodes.size();
        String grad = nodes.get(end - 1).getOutput(0);
        var declared = g.getOutputList().stream().filter(o -> o.getName().equals(grad)).findFirst().orElseThrow();
        Map<String, TensorProto.DataType> types = new HashMap<>(gradTypes);
        types.put(grad, TensorProto.DataType.forNumber(declared.getType().getTensorType().getElemType()));
        Map<String, Integer> lastReader = new HashMap<>();
        for (int i = forwardNodes; i < end; i++) {
            NodeProto n = nodes.get(i);
            for (String in : n.getInputList()) {
                lastReader.put(in, i);
            }
            if (n.getOpType().equals("Shape")) {
                types.put(n.getOutput(0), TensorProto.DataType.INT64);
            }
        }
        // where to cut: near equal shares of the backward nodes, at cuts whose crossing values all have known types
        // (a share of at least one node: rules that write no node, as Identity's, repeat a cut, and an If needs an output)
        List<Integer> bounds = new ArrayList<>(List.of(forwardNodes));
        int share = Math.max(1, (end - forwardNodes + GATE_SEGMENTS - 1) / GATE_SEGMENTS);
        for (int c : cuts) {
            if (c > forwardNodes && c < end - 1 && c - bounds.get(bounds.size() - 1) >= share
                    && crossing(nodes, forwardNodes, c, lastReader).stream().allMatch(types::containsKey)) {
                bounds.add(c);
            }
        }
        bounds.add(end);

        List<NodeProto> main = new ArrayList<>(nodes.subList(0, forwardNodes));
        for (int s = 0; s + 1 < bounds.size(); s++) {
            int from = bounds.get(s);
            int to = bounds.get(s + 1);
            Set<String> outputs = new java.util.LinkedHashSet<>();
            for (int i = from; i < to; i++) {
                for (String out : nodes.get(i).getOutputList()) {
                    if (out.equals(grad) || lastReader.getOrDefault(out, -1) >= to) {
                        outputs.add(out);
                    }
                }
            }
            String suffix = "/segment" + s;
            GraphProto.Builder then = GraphProto.newBuilder().setName("backward" + s);
            for (int i = from; i < to; i++) {
                NodeProto.Builder n = nodes.get(i).toBuilder();
                for (int k = 0; k < n.getInputCount(); k++) {
                    if (outputs.contains(n.getInput(k))) {
                        n.setInput(k, n.getInput(k) + suffix);
                    }
                }
                for (int k = 0; k < n.getOutputCount(); k++) {
                    if (outputs.contains(n.getOutput(k))) {
                        n.setOutput(k, n.getOutput(k) + suffix);
                    }
                }
                then.addNode(n);
            }
            GraphProto.Builder skipped = GraphProto.newBuilder().setName("no_backward" + s);
            for (String out : outputs) {
                int rank = out.equals(grad) ? declared.getType().getTensorType().getShape().getDimCount() : 1;
                then.addOutput(OnnxProtos.tensorValueOfAnyShape(out + suffix, types.get(out)));
                TensorProto empty = TensorProto.newBuilder().setName(out + "/skipped").setDataType(types.get(out).getNumber())
                        .addAllDims(java.util.Collections.nCopies(rank, 0L)).build();
                skipped.addNode(OnnxProtos.node("Constant", out + "/skipped_node", List.of(), List.of(out + "/skipped"),
                        OnnxProtos.tensorAttr("value", empty)));
                skipped.addOutput(OnnxProtos.tensorValueOfAnyShape(out + "/skipped", types.get(out)));
            }
            main.add(OnnxProtos.node("If", "/grad/gate" + s, List.of(gate), List.copyOf(outputs),
                    AttributeProto.newBuilder().setName("then_branch").setType(AttributeProto.AttributeType.GRAPH).setG(then).build(),
                    AttributeProto.newBuilder().setName("else_branch").setType(AttributeProto.AttributeType.GRAPH).setG(skipped).build()));
        }
        GraphProto.Builder gated = g.toBuilder().clearNode().addAllNode(main).addInput(tensorValue(gate, TensorProto.DataType.BOOL, 1));
        return gradient.toBuilder().setGraph(gated).build();
    }

    /** Values the backward nodes before {@code cut} write and nodes from {@code cut} on read. */
    private static Set<String> crossing(List<NodeProto> nodes, int from, int cut, Map<String, Integer> lastReader) {
        Set<String> out = new HashSet<>();
        for (int i = from; i < cut; i++) {
            for (String o : nodes.get(i).getOutputList()) {
                if (lastReader.getOrDefault(o, -1) >= cut) {
                    out.add(o);
                }
            }
        }
        return out;
    }

    private static Object[] symbolicDims(String prefix, int rank) {
        Object[] dims = new Object[rank];
        for (int i = 0; i < rank; i++) {
            dims[i] = prefix + i;
        }
        return dims;
    }

    private String gradOf(String tensor) {
        List<String> list = grads.get(tensor);
        if (list == null || list.isEmpty()) {
            return null;
        }
        if (list.size() == 1) {
            return list.get(0);
        }
        String sum = w.op("Sum", List.copyOf(list));
        TensorProto.DataType type = gradTypes.get(list.get(0));
        if (type != null) {
            gradTypes.put(sum, type);
        }
        list.clear();
        list.add(sum);
        return sum;
    }

    /** Whether an output of a multi-output rule other than the first has a gradient (the rule then takes g = null for the first). */
    private boolean anyOtherGradient(NodeProto n) {
        for (int o : trackedOutputs(n)) {
            if (o > 0 && o < n.getOutputCount() && !n.getOutput(o).isEmpty() && gradOf(n.getOutput(o)) != null) {
                return true;
            }
        }
        return false;
    }

    private void accumulate(String tensor, String grad) {
        TensorProto.DataType type = types.get(tensor);
        if (type != null) {
            gradTypes.putIfAbsent(grad, gradientType(type));
        }
        grads.computeIfAbsent(tensor, k -> new ArrayList<>()).add(grad);
    }

    long[] shapeOf(String tensor) throws GradientUnavailableException {
        long[] s = shapes.get(tensor);
        if (s != null) {
            return s;
        }
        TensorProto c = constants.get(tensor);
        if (c != null) {
            return c.getDimsList().stream().mapToLong(Long::longValue).toArray();
        }
        throw new GradientUnavailableException("Shape of " + tensor + " is unknown");
    }

    private boolean isDifferentiable(String tensor) {
        return differentiable.contains(tensor);
    }

    private void backward(NodeProto n, String g) throws GradientUnavailableException {
        String op = n.getOpType();
        List<String> in = n.getInputList();
        String y = n.getOutput(0);
        switch (op) {
            case "Identity", "Dropout" -> accumulate(in.get(0), g);
            case "Cast" -> {
                // a gradient has its tensor's type: cast back, or the rules before this node mix types
                TensorProto.DataType from = gradientType(types.get(in.get(0)));
                accumulate(in.get(0), from == gradientType(types.get(y)) ? g : w.op("Cast", g, intAttr("to", from.getNumber())));
            }
            case "Add", "Sum" -> {
                for (String x : in) {
                    give(x, () -> unbroadcast(g, x, y));
                }
            }
            case "Sub" -> {
                give(in.get(0), () -> unbroadcast(g, in.get(0), y));
                give(in.get(1), () -> unbroadcast(w.op("Neg", g), in.get(1), y));
            }
            case "Mul" -> {
                give(in.get(0), () -> unbroadcast(w.op("Mul", g, in.get(1)), in.get(0), y));
                give(in.get(1), () -> unbroadcast(w.op("Mul", g, in.get(0)), in.get(1), y));
            }
            case "Div" -> {
                give(in.get(0), () -> unbroadcast(w.op("Div", g, in.get(1)), in.get(0), y));
                give(in.get(1), () -> unbroadcast(w.op("Neg", w.op("Div", w.op("Mul", g, y), in.get(1))), in.get(1), y));
            }
            case "Neg" -> accumulate(in.get(0), w.op("Neg", g));
            case "Sqrt" -> accumulate(in.get(0), w.op("Div", w.op("Mul", g, w.scalar(0.5f)), y));
            case "Erf" -> {
                String x = in.get(0);
                String gauss = w.op("Exp", w.op("Neg", w.op("Mul", x, x)));
                accumulate(x, w.op("Mul", g, w.op("Mul", gauss, w.scalar((float) (2 / Math.sqrt(Math.PI))))));
            }
            case "Tanh" -> accumulate(in.get(0), w.op("Mul", g, w.op("Sub", w.scalar(1f), w.op("Mul", y, y))));
            case "Sigmoid" -> accumulate(in.get(0), w.op("Mul", g, w.op("Mul", y, w.op("Sub", w.scalar(1f), y))));
            case "Relu" -> accumulate(in.get(0),
                    w.op("Where", List.of(w.op("Greater", in.get(0), w.scalar(0f)), g, w.scalar(0f))));
            case "Exp" -> accumulate(in.get(0), w.op("Mul", g, y));
            case "Log" -> accumulate(in.get(0), w.op("Div", g, in.get(0)));
            case "Pow" -> pow(n, g);
            // the kept triangle passes its gradient, the zeroed one none: the same Trilu of the gradient
            case "Trilu" -> accumulate(n.getInput(0), w.op("Trilu",
                    n.getInputCount() > 1 && !n.getInput(1).isEmpty() ? List.of(g, n.getInput(1)) : List.of(g),
                    n.getAttributeList().toArray(new ai.onnx.proto.OnnxMl.AttributeProto[0])));
            case "Reshape", "Squeeze", "Unsqueeze", "Flatten" -> accumulate(in.get(0), w.reshapeLike(g, in.get(0)));
            case "Transpose" -> transpose(n, g);
            case "Expand" -> accumulate(in.get(0), unbroadcast(g, in.get(0), y));
            case "MatMul" -> matmul(n, g);
            case "Gemm" -> gemm(n, g);
            case "FusedGemm" -> gemm(n, activationGradient(n, g));
            case "Softmax", "LogSoftmax" -> softmax(n, g);
            case "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin" -> reduce(n, g);
            case "Round" -> accumulate(in.get(0), g);
            case "Where" -> {
                String zero = w.scalar(0f);
                give(in.get(1), () -> unbroadcast(w.op("Where", List.of(in.get(0), g, zero)), in.get(1), y));
                give(in.get(2), () -> unbroadcast(w.op("Where", List.of(in.get(0), zero, g)), in.get(2), y));
            }
            case "Concat" -> concat(n, g);
            case "Slice" -> slice(n, g);
            case "Gather" -> gather(n, g);
            case "LayerNormalization" -> layerNorm(n, g);
            case "Abs" -> accumulate(in.get(0), w.op("Mul", g, w.op("Sign", in.get(0))));
            // softplus(x) = log(1 + e^x): its derivative is the sigmoid
            case "Softplus" -> accumulate(in.get(0), w.op("Mul", g, w.op("Sigmoid", in.get(0))));
            case "Gelu" -> accumulate(in.get(0), w.op("Mul", g, geluSlope(in.get(0), approximation(n))));
            case "BiasGelu", "FastGelu" -> {
                // Gelu(x + bias): exact for BiasGelu, tanh-approximated for FastGelu (whose bias is optional)
                boolean biased = n.getInputCount() > 1 && !n.getInput(1).isEmpty();
                String sum = biased ? w.op("Add", in.get(0), in.get(1)) : in.get(0);
                String d = w.op("Mul", g, geluSlope(sum, op.equals("FastGelu") ? "tanh" : "none"));
                give(in.get(0), () -> unbroadcast(d, in.get(0), y));
                if (biased) {
                    give(in.get(1), () -> unbroadcast(d, in.get(1), y));
                }
            }
            case "QuickGelu" -> {
                // x sigmoid(a x): sigmoid(a x) + a x sigmoid(a x) (1 - sigmoid(a x))
                String x = in.get(0);
                String ax = w.op("Mul", x, w.scalar(attrFloat(n, "alpha", 1.702f)));
                String sig = w.op("Sigmoid", ax);
                accumulate(x, w.op("Mul", g, w.op("Add", sig, w.op("Mul", ax, w.op("Mul", sig, w.op("Sub", w.scalar(1f), sig))))));
            }
            case "FusedMatMul" -> fusedMatmul(n, g);
            case "SkipLayerNormalization", "SkipSimplifiedLayerNormalization" -> skipLayerNorm(n, g);
            case "SimplifiedLayerNormalization" -> {
                int rank = shapeOf(in.get(0)).length;
                accumulate(in.get(0), normalizationGradient(in.get(0), rank, in.get(1), normalize(attrInt(n, "axis", -1), rank),
                        attrFloat(n, "epsilon", 1e-5f), false, g));
            }
            case "Split" -> split(n, g);
            case "Einsum" -> einsum(n, g);
            case "Clip" -> clip(n, g);
            case "Tile" -> tile(n, g);
            case "GatherElements" -> gatherElements(n, g);
            case "DynamicQuantizeLinear" -> accumulate(in.get(0), w.op("Div", g, n.getOutput(1)));
            case "QuantizeLinear" -> accumulate(in.get(0), w.op("Div", g, alongAxis(n, 1)));
            case "DequantizeLinear" -> accumulate(in.get(0), w.op("Mul", g, alongAxis(n, 1)));
            case "MatMulInteger" -> matmulInteger(n, g);
            case "DynamicQuantizeMatMul" -> dynamicQuantizeMatmul(n, g);
            case "MatMulIntegerToFloat" -> matmulIntegerToFloat(n, g);
            case "Max", "Min" -> {
                // each input gets the gradient where it is the one chosen (ties: each of them)
                for (String x : in) {
                    give(x, () -> unbroadcast(w.op("Where", List.of(w.op("Equal", x, y), g, w.scalar(0f))), x, y));
                }
            }
            default -> throw new GradientUnavailableException("No gradient rule for operator " + op + " (node " + n.getName() + ")");
        }
    }

    private interface GradSupplier {
        String get() throws GradientUnavailableException;
    }

    private void give(String input, GradSupplier grad) throws GradientUnavailableException {
        if (isDifferentiable(input)) {
            accumulate(input, grad.get());
        }
    }

    private String optional(NodeProto n, int input) {
        return n.getInputCount() > input && !n.getInput(input).isEmpty() ? n.getInput(input) : null;
    }

    /**
     * The scale (input {@code scaleInput}) of a QuantizeLinear or DequantizeLinear shaped to
     * broadcast against its data: a scalar as it is, a per-axis 1-D scale unsqueezed around the axis.
     */
    private String alongAxis(NodeProto n, int scaleInput) throws GradientUnavailableException {
        if (attrInt(n, "block_size", 0) != 0) {
            throw new GradientUnavailableException("Blocked quantization is not supported (node " + n.getName() + ")");
        }
        String scale = n.getInput(scaleInput);
        TensorProto c = constants.get(scale);
        if (c == null || c.getDimsCount() == 0) {
            return scale;
        }
        int rank = shapeOf(n.getInput(0)).length;
        int axis = normalize(attrInt(n, "axis", 1), rank);
        List<Long> others = new ArrayList<>();
        for (int i = 0; i < rank; i++) {
            if (i != axis) {
                others.add((long) i);
            }
        }
        return others.isEmpty() ? scale : w.unsqueeze(scale, toArray(others));
    }

    /**
     * The float values integers stand for, {@code (q - zero) x scale}, the scale omitted when null;
     * {@code perRow} marks a 1-D zero point of a left operand, which holds one value per row.
     */
    private String dequantized(String q, String zero, String scale, boolean perRow) throws GradientUnavailableException {
        String f = w.op("Cast", q, intAttr("to", TensorProto.DataType.FLOAT_VALUE));
        if (zero != null) {
            String z = w.op("Cast", zero, intAttr("to", TensorProto.DataType.FLOAT_VALUE));
            TensorProto c = constants.get(zero);
            if (perRow && c != null && c.getDimsCount() == 1 && c.getDims(0) > 1) {
                z = w.unsqueeze(z, new long[] {1});
            }
            f = w.op("Sub", f, z);
        }
        if (scale != null) {
            TensorProto c = constants.get(scale);
            String s = perRow && c != null && c.getDimsCount() == 1 && c.getDims(0) > 1 ? w.unsqueeze(scale, new long[] {1}) : scale;
            f = w.op("Mul", f, s);
        }
        return f;
    }

    /**
     * MatMulInteger, {@code (A - a0) (B - b0)} in int32: the gradient of each operand is the float
     * product with the other operand's values less its zero point, as for MatMul.
     */
    private void matmulInteger(NodeProto n, String g) throws GradientUnavailableException {
        String a = n.getInput(0);
        String b = n.getInput(1);
        String y = n.getOutput(0);
        int ra = matrixRank(n, a);
        int rb = matrixRank(n, b);
        give(a, () -> unbroadcast(w.op("MatMul", g, w.transpose(dequantized(b, optional(n, 3), null, false), swapLast(rb))), a, y));
        give(b, () -> unbroadcast(w.op("MatMul", w.transpose(dequantized(a, optional(n, 2), null, true), swapLast(ra)), g), b, y));
    }

    /**
     * DynamicQuantizeMatMul (ONNX Runtime's fusion of a float activation's DynamicQuantizeLinear with
     * MatMulInteger and its rescaling), {@code A (B - b0) b_scale + bias}, A quantized inside: a
     * constant weight B, or the integers of another activation (attention's products).
     */
    private void dynamicQuantizeMatmul(NodeProto n, String g) throws GradientUnavailableException {
        String a = n.getInput(0);
        String b = n.getInput(1);
        String y = n.getOutput(0);
        int ra = matrixRank(n, a);
        int rb = matrixRank(n, b);
        String bScale = n.getInput(2);
        give(a, () -> unbroadcast(w.op("MatMul", g, w.transpose(dequantized(b, optional(n, 3), bScale, false), swapLast(rb))), a, y));
        give(b, () -> unbroadcast(w.op("Mul", w.op("MatMul", w.transpose(a, swapLast(ra)), g), bScale), b, y));
    }

    /**
     * MatMulIntegerToFloat (ONNX Runtime's fusion of MatMulInteger and its rescaling),
     * {@code (A - a0) a_scale (B - b0) b_scale + bias}: gradients as MatMulInteger's, times the scales.
     */
    private void matmulIntegerToFloat(NodeProto n, String g) throws GradientUnavailableException {
        String a = n.getInput(0);
        String b = n.getInput(1);
        String y = n.getOutput(0);
        int ra = matrixRank(n, a);
        int rb = matrixRank(n, b);
        String aScale = n.getInput(2);
        String bScale = n.getInput(3);
        give(a, () -> unbroadcast(w.op("Mul", w.op("MatMul", g, w.transpose(dequantized(b, optional(n, 5), bScale, false),
                swapLast(rb))), aScale), a, y));
        give(b, () -> unbroadcast(w.op("Mul", w.op("MatMul", w.transpose(dequantized(a, optional(n, 4), aScale, true),
                swapLast(ra)), g), bScale), b, y));
    }

    /** The rank of a (batched) matrix product's operand: at least 2, as the product rules here need. */
    private int matrixRank(NodeProto n, String operand) throws GradientUnavailableException {
        int rank = shapeOf(operand).length;
        if (rank < 2) {
            throw new GradientUnavailableException(n.getOpType() + " with a 1-D operand is not supported (node " + n.getName() + ")");
        }
        return rank;
    }

    /** Sums a gradient of output shape back to an operand's (broadcast) shape. */
    private String unbroadcast(String g, String operand, String output) throws GradientUnavailableException {
        long[] xs = shapeOf(operand);
        long[] ys = shapeOf(output);
        int lead = ys.length - xs.length;
        List<Long> axes = new ArrayList<>();
        for (int i = 0; i < ys.length; i++) {
            if (i < lead || (xs[i - lead] == 1 && ys[i] != 1)) {
                axes.add((long) i);
            }
        }
        if (axes.isEmpty()) {
            return g;
        }
        String summed = w.reduceSum(g, toArray(axes), true);
        return lead == 0 ? summed : w.reshapeLike(summed, operand);
    }

    /** Gelu's approximation attribute: "none" (exact) or "tanh". */
    private static String approximation(NodeProto n) {
        for (AttributeProto a : n.getAttributeList()) {
            if (a.getName().equals("approximate")) {
                return a.getS().toStringUtf8();
            }
        }
        return "none";
    }

    /**
     * The derivative of Gelu at x: exact, of x Phi(x), or with approximate="tanh", of
     * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
     */
    private String geluSlope(String x, String approximate) {
        if (approximate.equals("tanh")) {
            float c = (float) Math.sqrt(2 / Math.PI);
            String x2 = w.op("Mul", x, x);
            String u = w.op("Mul", w.scalar(c), w.op("Add", x, w.op("Mul", w.scalar(0.044715f), w.op("Mul", x2, x))));
            String t = w.op("Tanh", u);
            String du = w.op("Mul", w.scalar(c), w.op("Add", w.scalar(1f), w.op("Mul", w.scalar(3 * 0.044715f), x2)));
            // 0.5 (1 + t) + 0.5 x (1 - t^2) du
            return w.op("Add", w.op("Mul", w.scalar(0.5f), w.op("Add", w.scalar(1f), t)),
                    w.op("Mul", w.op("Mul", w.scalar(0.5f), x), w.op("Mul", w.op("Sub", w.scalar(1f), w.op("Mul", t, t)), du)));
        }
        // Phi(x) + x phi(x), Phi(x) = 0.5 (1 + erf(x / sqrt 2)), phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
        String phiCdf = w.op("Mul", w.scalar(0.5f), w.op("Add", w.scalar(1f),
                w.op("Erf", w.op("Mul", x, w.scalar((float) (1 / Math.sqrt(2)))))));
        String pdf = w.op("Mul", w.scalar((float) (1 / Math.sqrt(2 * Math.PI))),
                w.op("Exp", w.op("Mul", w.scalar(-0.5f), w.op("Mul", x, x))));
        return w.op("Add", phiCdf, w.op("Mul", x, pdf));
    }

    /**
     * FusedMatMul (ONNX Runtime's MatMul with transposes and a scale folded in):
     * {@code alpha op(A) op(B)}, op transposing the last two axes when transA / transB say so.
     */
    private void fusedMatmul(NodeProto n, String g) throws GradientUnavailableException {
        if (attrInt(n, "transBatchA", 0) != 0 || attrInt(n, "transBatchB", 0) != 0) {
            throw new GradientUnavailableException("FusedMatMul with transBatchA or transBatchB is not supported (node " + n.getName() + ")");
        }
        String a = n.getInput(0);
        String b = n.getInput(1);
        String y = n.getOutput(0);
        int ra = matrixRank(n, a);
        int rb = matrixRank(n, b);
        boolean transA = attrInt(n, "transA", 0) != 0;
        boolean transB = attrInt(n, "transB", 0) != 0;
        float alpha = attrFloat(n, "alpha", 1f);
        String ga = alpha == 1f ? g : w.op("Mul", g, w.scalar(alpha));
        give(a, () -> {
            // d op(A) = g op(B)^T, and op(B)^T is B itself or B transposed
            String dOpA = w.op("MatMul", ga, transB ? b : w.transpose(b, swapLast(rb)));
            return unbroadcast(transA ? w.transpose(dOpA, swapLast(Math.max(ra, shapeOf(y).length))) : dOpA, a, y);
        });
        give(b, () -> {
            String dOpB = w.op("MatMul", transA ? a : w.transpose(a, swapLast(ra)), ga);
            return unbroadcast(transB ? w.transpose(dOpB, swapLast(Math.max(rb, shapeOf(y).length))) : dOpB, b, y);
        });
    }

    /**
     * SkipLayerNormalization: LayerNorm(input + skip + bias) x gamma + beta over the last axis (RMS
     * normalization without centring and beta for the Simplified one). Output 3, when present, is the
     * sum itself, and its gradient joins the one through the normalization.
     */
    private void skipLayerNorm(NodeProto n, String g) throws GradientUnavailableException {
        boolean simplified = n.getOpType().equals("SkipSimplifiedLayerNormalization");
        String input = n.getInput(0);
        String skip = n.getInput(1);
        int biasIndex = simplified ? 3 : 4;
        String bias = optional(n, biasIndex);
        String sum = w.op("Add", input, skip);
        if (bias != null) {
            sum = w.op("Add", sum, bias);
        }
        String y = n.getOutput(0);
        int rank = shapeOf(y).length;
        String total = g == null ? null : normalizationGradient(sum, rank, n.getInput(2), rank - 1, attrFloat(n, "epsilon", 1e-12f), !simplified, g);
        String direct = n.getOutputCount() > 3 && !n.getOutput(3).isEmpty() ? gradOf(n.getOutput(3)) : null;
        if (direct != null) {
            total = total == null ? direct : w.op("Add", total, direct);
        }
        String d = total;
        give(input, () -> unbroadcast(d, input, y));
        give(skip, () -> unbroadcast(d, skip, y));
        if (bias != null) {
            give(bias, () -> unbroadcast(d, bias, y));
        }
    }

    /**
     * Einsum of one or two operands without ellipsis or repeated subscripts: each operand's gradient
     * is the einsum of the output gradient with the other operand, back to the operand's subscripts,
     * which needs every subscript of the operand in the output or the other operand.
     */
    private void einsum(NodeProto n, String g) throws GradientUnavailableException {
        String equation = null;
        for (AttributeProto a : n.getAttributeList()) {
            if (a.getName().equals("equation")) {
                equation = a.getS().toStringUtf8().replace(" ", "");
            }
        }
        if (equation == null || equation.contains(".") || n.getInputCount() > 2) {
            throw new GradientUnavailableException("Einsum with an ellipsis or more than two operands is not supported (node "
                    + n.getName() + ")");
        }
        String[] sides = equation.split("->", -1);
        String[] terms = sides[0].split(",", -1);
        String out = sides.length > 1 ? sides[1] : implicitOutput(terms);
        for (int i = 0; i < terms.length; i++) {
            String term = terms[i];
            String other = terms.length > 1 ? terms[1 - i] : "";
            for (char c : term.toCharArray()) {
                if (term.indexOf(c) != term.lastIndexOf(c) || out.indexOf(c) < 0 && other.indexOf(c) < 0) {
                    throw new GradientUnavailableException("Einsum " + equation + ": subscript " + c + " repeated or summed"
                            + " over one operand only is not supported (node " + n.getName() + ")");
                }
            }
            String x = n.getInput(i);
            String backward = terms.length > 1 ? out + "," + other + "->" + term : out + "->" + term;
            List<String> operands = terms.length > 1 ? List.of(g, n.getInput(1 - i)) : List.of(g);
            give(x, () -> w.op("Einsum", operands, AttributeProto.newBuilder().setName("equation")
                    .setType(AttributeProto.AttributeType.STRING).setS(com.google.protobuf.ByteString.copyFromUtf8(backward)).build()));
        }
    }

    /** Einsum's implicit output: the subscripts that appear once, in alphabetical order. */
    private static String implicitOutput(String[] terms) {
        String all = String.join("", terms);
        StringBuilder out = new StringBuilder();
        all.chars().distinct().sorted().filter(c -> all.indexOf(c) == all.lastIndexOf(c)).forEach(c -> out.append((char) c));
        return out.toString();
    }

    /** Split: the gradients of the parts concatenated back, zeros for a part with none. */
    private void split(NodeProto n, String g) throws GradientUnavailableException {
        int rank = shapeOf(n.getInput(0)).length;
        long axis = normalize(attrInt(n, "axis", 0), rank);
        List<String> parts = new ArrayList<>();
        for (int i = 0; i < n.getOutputCount(); i++) {
            String out = n.getOutput(i);
            String part = i == 0 ? g : gradOf(out);
            parts.add(part != null ? part : w.op("Mul", out, w.scalar(0f)));
        }
        accumulate(n.getInput(0), parts.size() == 1 ? parts.get(0) : w.op("Concat", parts, intAttr("axis", axis)));
    }

    /**
     * Tile: each element of x was copied once per repeat, so its gradient is the sum over the copies:
     * the gradient reshaped to [r0, d0, r1, d1, ...] and summed over the repeat axes.
     */
    private void tile(NodeProto n, String g) throws GradientUnavailableException {
        String x = n.getInput(0);
        long[] repeats = constantInts(n, 1);
        List<String> dims = new ArrayList<>();
        long[] repeatAxes = new long[repeats.length];
        for (int i = 0; i < repeats.length; i++) {
            dims.add(w.int64s(repeats[i]));
            dims.add(w.op("Gather", w.shape(x), w.int64s(i)));
            repeatAxes[i] = 2L * i;
        }
        String interleaved = w.op("Reshape", g, w.op("Concat", dims, intAttr("axis", 0)));
        accumulate(x, w.reduceSum(interleaved, repeatAxes, false));
    }

    /**
     * GatherElements (DeBERTa's relative attention): the gradient scattered back to where each
     * element came from, summed where an element was taken several times: ScatterElements with
     * reduction "add", which ONNX has from opset 16.
     */
    private void gatherElements(NodeProto n, String g) throws GradientUnavailableException {
        if (w.opset() < 16) {
            throw new GradientUnavailableException("GatherElements needs opset 16 or later for its gradient (ScatterElements"
                    + " with reduction add); the model has opset " + w.opset() + " (node " + n.getName() + ")");
        }
        String data = n.getInput(0);
        String zeros = w.op("Mul", data, w.scalar(0f));
        accumulate(data, w.op("ScatterElements", List.of(zeros, n.getInput(1), g),
                intAttr("axis", attrInt(n, "axis", 0)), AttributeProto.newBuilder().setName("reduction")
                        .setType(AttributeProto.AttributeType.STRING).setS(com.google.protobuf.ByteString.copyFromUtf8("add")).build()));
    }

    /** Clip passes the gradient where x is within [min, max] (bounds as inputs from opset 11, attributes before). */
    private void clip(NodeProto n, String g) {
        String x = n.getInput(0);
        String outside = null;
        String min = null;
        String max = null;
        if (w.opset() >= 11) {
            min = n.getInputCount() > 1 && !n.getInput(1).isEmpty() ? n.getInput(1) : null;
            max = n.getInputCount() > 2 && !n.getInput(2).isEmpty() ? n.getInput(2) : null;
        } else {
            for (AttributeProto a : n.getAttributeList()) {
                if (a.getName().equals("min")) {
                    min = w.scalar(a.getF());
                } else if (a.getName().equals("max")) {
                    max = w.scalar(a.getF());
                }
            }
        }
        if (min != null) {
            outside = w.op("Less", x, min);
        }
        if (max != null) {
            String above = w.op("Greater", x, max);
            outside = outside == null ? above : w.op("Or", outside, above);
        }
        // a 0/1 mask rather than Where, which opsets before 9 (Clip with attributes) do not have
        accumulate(x, outside == null ? g
                : w.op("Mul", g, w.op("Cast", w.op("Not", outside), intAttr("to", TensorProto.DataType.FLOAT_VALUE))));
    }

    private void pow(NodeProto n, String g) throws GradientUnavailableException {
        String x = n.getInput(0);
        TensorProto exponent = constants.get(n.getInput(1));
        if (exponent == null) {
            throw new GradientUnavailableException("Pow with a non-constant exponent is not supported (node " + n.getName() + ")");
        }
        float[] ps = exponent.getDataType() == TensorProto.DataType.FLOAT_VALUE ? OnnxProtos.floatValues(exponent)
                : toFloats(OnnxProtos.longValues(exponent));
        String local;
        boolean belowOne = false;
        if (ps.length == 1) {
            float p = ps[0];
            // x² (LayerNorm's variance) and x¹ are the common cases: ONNX Runtime's Pow kernel is slow for exponent 1
            // (a decomposed LayerNorm's gradient spent 11% of the whole gradient graph in Pow(x, 1))
            if (p == 1) {
                accumulate(x, g);
                return;
            }
            local = p == 2 ? w.op("Mul", x, w.scalar(2f)) : w.op("Mul", w.scalar(p), w.op("Pow", x, w.scalar(p - 1)));
            belowOne = p < 1;
        } else {
            // a tensor of exponents, broadcast against x: p * x^(p - 1) element by element
            String p = w.fresh("pow_exponents");
            graph.addInitializer(floats(p, exponent.getDimsList().stream().mapToLong(Long::longValue).toArray(), ps));
            local = w.op("Mul", p, w.op("Pow", x, w.op("Sub", p, w.scalar(1f))));
            for (float v : ps) {
                belowOne |= v < 1;
            }
        }
        if (belowOne) {
            // p x^(p-1) is infinite at x = 0 for p < 1: take 0 there (the subgradient IG's path can use)
            local = w.op("Where", List.of(w.op("Equal", x, w.scalar(0f)), w.scalar(0f), local));
        }
        accumulate(x, w.op("Mul", g, local));
    }

    private static float[] toFloats(long[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = values[i];
        }
        return out;
    }

    private void transpose(NodeProto n, String g) throws GradientUnavailableException {
        int rank = shapeOf(n.getInput(0)).length;
        long[] perm = attrInts(n, "perm");
        if (perm == null) {
            perm = new long[rank];
            for (int i = 0; i < rank; i++) {
                perm[i] = rank - 1 - i;
            }
        }
        long[] inverse = new long[perm.length];
        for (int i = 0; i < perm.length; i++) {
            inverse[(int) perm[i]] = i;
        }
        accumulate(n.getInput(0), w.transpose(g, inverse));
    }

    private long[] swapLast(int rank) {
        long[] perm = range(0, rank);
        perm[rank - 1] = rank - 2;
        perm[rank - 2] = rank - 1;
        return perm;
    }

    private void matmul(NodeProto n, String g) throws GradientUnavailableException {
        String a = n.getInput(0);
        String b = n.getInput(1);
        int ra = matrixRank(n, a);
        int rb = matrixRank(n, b);
        String y = n.getOutput(0);
        give(a, () -> unbroadcast(w.op("MatMul", g, w.transpose(b, swapLast(rb))), a, y));
        give(b, () -> unbroadcast(w.op("MatMul", w.transpose(a, swapLast(ra)), g), b, y));
    }

    /**
     * FusedGemm (ONNX Runtime's Gemm with its activation folded in): the gradient before the
     * activation, from the activation's output y.
     */
    private String activationGradient(NodeProto n, String g) throws GradientUnavailableException {
        String activation = "";
        for (AttributeProto a : n.getAttributeList()) {
            if (a.getName().equals("activation")) {
                activation = a.getS().toStringUtf8();
            }
        }
        String y = n.getOutput(0);
        return switch (activation) {
            case "" -> g;
            case "Relu" -> w.op("Where", List.of(w.op("Greater", y, w.scalar(0f)), g, w.scalar(0f)));
            case "Tanh" -> w.op("Mul", g, w.op("Sub", w.scalar(1f), w.op("Mul", y, y)));
            case "Sigmoid" -> w.op("Mul", g, w.op("Mul", y, w.op("Sub", w.scalar(1f), y)));
            case "LeakyRelu" -> w.op("Where", List.of(w.op("Greater", y, w.scalar(0f)), g,
                    w.op("Mul", g, w.scalar(attrFloat(n, "activation_alpha", 0.01f)))));
            default -> throw new GradientUnavailableException("FusedGemm with activation " + activation
                    + " is not supported (node " + n.getName() + ")");
        };
    }

    private void gemm(NodeProto n, String g) throws GradientUnavailableException {
        float alpha = attrFloat(n, "alpha", 1f);
        float beta = attrFloat(n, "beta", 1f);
        boolean transA = attrInt(n, "transA", 0) != 0;
        boolean transB = attrInt(n, "transB", 0) != 0;
        String a = n.getInput(0);
        String b = n.getInput(1);
        String ga = alpha == 1f ? g : w.op("Mul", g, w.scalar(alpha));
        long[] t = {1, 0};
        give(a, () -> {
            String opB = transB ? w.transpose(b, t) : b;
            String dOpA = w.op("MatMul", ga, w.transpose(opB, t));
            return transA ? w.transpose(dOpA, t) : dOpA;
        });
        give(b, () -> {
            String opA = transA ? w.transpose(a, t) : a;
            String dOpB = w.op("MatMul", w.transpose(opA, t), ga);
            return transB ? w.transpose(dOpB, t) : dOpB;
        });
        if (n.getInputCount() > 2) {
            String c = n.getInput(2);
            give(c, () -> unbroadcast(beta == 1f ? g : w.op("Mul", g, w.scalar(beta)), c, n.getOutput(0)));
        }
    }

    private void softmax(NodeProto n, String g) throws GradientUnavailableException {
        String y = n.getOutput(0);
        int rank = shapeOf(y).length;
        int axis = normalize(attrInt(n, "axis", w.opset() >= 13 ? -1 : 1), rank);
        // before opset 13 softmax flattens every axis from `axis` on into one
        long[] axes = w.opset() >= 13 ? new long[] {axis} : range(axis, rank);
        String dx;
        if (n.getOpType().equals("Softmax")) {
            String s = w.reduceSum(w.op("Mul", g, y), axes, true);
            dx = w.op("Mul", y, w.op("Sub", g, s));
        } else {
            String s = w.reduceSum(g, axes, true);
            dx = w.op("Sub", g, w.op("Mul", w.op("Exp", y), s));
        }
        accumulate(n.getInput(0), dx);
    }

    private void reduce(NodeProto n, String g) throws GradientUnavailableException {
        String x = n.getInput(0);
        int rank = shapeOf(x).length;
        long[] axes = attrInts(n, "axes");
        if (axes == null && n.getInputCount() > 1 && !n.getInput(1).isEmpty()) {
            TensorProto c = constants.get(n.getInput(1));
            if (c == null) {
                throw new GradientUnavailableException(n.getOpType() + " with computed axes is not supported (node " + n.getName() + ")");
            }
            axes = OnnxProtos.longValues(c);
        }
        if (axes == null || axes.length == 0) {
            if (attrInt(n, "noop_with_empty_axes", 0) != 0) {
                accumulate(x, g);
                return;
            }
            axes = range(0, rank);
        }
        long[] sorted = new long[axes.length];
        for (int i = 0; i < axes.length; i++) {
            sorted[i] = normalize(axes[i], rank);
        }
        java.util.Arrays.sort(sorted);
        boolean keepdims = attrInt(n, "keepdims", 1) != 0;
        String kept = keepdims ? g : w.unsqueeze(g, sorted);
        String dx = w.op("Expand", kept, w.shape(x));
        if (n.getOpType().equals("ReduceMax") || n.getOpType().equals("ReduceMin")) {
            // to the elements that are the extreme (ties: each of them), as the Max rule
            String y = keepdims ? n.getOutput(0) : w.unsqueeze(n.getOutput(0), sorted);
            dx = w.op("Where", List.of(w.op("Equal", x, y), dx, w.scalar(0f)));
        }
        if (n.getOpType().equals("ReduceMean")) {
            String count = w.op("Div", w.op("Cast", w.op("Size", x), intAttr("to", TensorProto.DataType.FLOAT_VALUE)),
                    w.op("Cast", w.op("Size", n.getOutput(0)), intAttr("to", TensorProto.DataType.FLOAT_VALUE)));
            dx = w.op("Div", dx, count);
        }
        accumulate(x, dx);
    }

    private void concat(NodeProto n, String g) throws GradientUnavailableException {
        int rank = shapeOf(n.getOutput(0)).length;
        long axis = normalize(attrInt(n, "axis", 0), rank);
        String axisIndex = w.int64s(axis);
        String axes = w.int64s(axis);
        String offset = w.int64s(0);
        for (String x : n.getInputList()) {
            String length = w.op("Gather", w.shape(x), axisIndex);
            String end = w.op("Add", offset, length);
            String start = offset;
            give(x, () -> w.op("Slice", List.of(g, start, end, axes)));
            offset = end;
        }
    }

    private void slice(NodeProto n, String g) throws GradientUnavailableException {
        String x = n.getInput(0);
        int rank = shapeOf(x).length;
        long[] starts = constantInts(n, 1);
        long[] sliceAxes = n.getInputCount() > 3 && !n.getInput(3).isEmpty() ? constantInts(n, 3) : range(0, starts.length);
        if (n.getInputCount() > 4 && !n.getInput(4).isEmpty()) {
            for (long step : constantInts(n, 4)) {
                if (step != 1) {
                    throw new GradientUnavailableException("Slice with steps other than 1 is not supported (node " + n.getName() + ")");
                }
            }
        }
        long[] begin = new long[rank];
        long[] negative = new long[rank];
        for (int i = 0; i < sliceAxes.length; i++) {
            int a = normalize(sliceAxes[i], rank);
            begin[a] = starts[i];
            negative[a] = starts[i] < 0 ? 1 : 0;
        }
        // begin = start, or dim + start for negative starts, clamped to [0, dim] as Slice clamps it;
        // end padding = dim(x) - dim(y) - begin
        String dims = w.shape(x);
        String unclamped = w.op("Add", w.op("Mul", dims, w.int64s(negative)), w.int64s(begin));
        String zeros = w.op("Mul", dims, w.int64s(new long[rank]));
        String atLeastZero = w.op("Where", List.of(w.op("Less", unclamped, zeros), zeros, unclamped));
        String beginPad = w.op("Where", List.of(w.op("Greater", atLeastZero, dims), dims, atLeastZero));
        String endPad = w.op("Sub", w.op("Sub", dims, w.shape(n.getOutput(0))), beginPad);
        String pads = w.op("Concat", List.of(beginPad, endPad), intAttr("axis", 0));
        accumulate(x, w.op("Pad", List.of(g, pads)));
    }

    private void gather(NodeProto n, String g) throws GradientUnavailableException {
        String data = n.getInput(0);
        String indices = n.getInput(1);
        int rank = shapeOf(data).length;
        int axis = normalize(attrInt(n, "axis", 0), rank);
        int indexRank = shapeOf(indices).length;
        if (indexRank > 1) {
            throw new GradientUnavailableException("Gather on the data path with indices of rank > 1 is not supported (node "
                    + n.getName() + ")");
        }
        // scatter-add as a matrix product: move the gathered axis last, multiply by one-hot(indices)
        String gk = indexRank == 0 ? w.unsqueeze(g, new long[] {axis}) : g;
        String idx = indexRank == 0 ? w.op("Reshape", indices, w.int64s(1)) : indices;
        String depth = w.op("Gather", w.shape(data), w.int64s(axis));
        String values = w.fresh("onehot_values");
        graph.addInitializer(floats(values, new long[] {2}, new float[] {0f, 1f}));
        String oneHot = w.op("OneHot", List.of(idx, depth, values), intAttr("axis", -1));
        long[] perm = new long[rank];
        int j = 0;
        for (int i = 0; i < rank; i++) {
            if (i != axis) {
                perm[j++] = i;
            }
        }
        perm[rank - 1] = axis;
        long[] inverse = new long[rank];
        for (int i = 0; i < rank; i++) {
            inverse[(int) perm[i]] = i;
        }
        String moved = w.transpose(gk, perm);
        accumulate(data, w.transpose(w.op("MatMul", moved, oneHot), inverse));
    }

    private void layerNorm(NodeProto n, String g) throws GradientUnavailableException {
        String x = n.getInput(0);
        int rank = shapeOf(x).length;
        accumulate(x, normalizationGradient(x, rank, n.getInput(1), normalize(attrInt(n, "axis", -1), rank),
                attrFloat(n, "epsilon", 1e-5f), true, g));
    }

    /**
     * The gradient with respect to x of (x - mean) / sqrt(var + eps) x gamma over the axes from
     * {@code axis} on, or, without centring (RMS normalization), of x / sqrt(mean(x^2) + eps) x gamma.
     */
    private String normalizationGradient(String x, int rank, String gamma, int axis, float epsilon, boolean centred, String g) {
        long[] axes = range(axis, rank);
        String centered = centred ? w.op("Sub", x, w.reduceMean(x, axes)) : x;
        String variance = w.reduceMean(w.op("Mul", centered, centered), axes);
        String inv = w.op("Div", w.scalar(1f), w.op("Sqrt", w.op("Add", variance, w.scalar(epsilon))));
        String xhat = w.op("Mul", centered, inv);
        String dxhat = w.op("Mul", g, gamma);
        String projected = w.op("Mul", xhat, w.reduceMean(w.op("Mul", dxhat, xhat), axes));
        String term = centred ? w.op("Sub", w.op("Sub", dxhat, w.reduceMean(dxhat, axes)), projected) : w.op("Sub", dxhat, projected);
        return w.op("Mul", inv, term);
    }

    private long[] constantInts(NodeProto n, int input) throws GradientUnavailableException {
        TensorProto c = constants.get(n.getInput(input));
        if (c == null) {
            throw new GradientUnavailableException(n.getOpType() + " with computed input " + input
                    + " is not supported (node " + n.getName() + ")");
        }
        if (c.getDataType() == TensorProto.DataType.INT32_VALUE) {
            if (!c.getRawData().isEmpty()) {
                java.nio.IntBuffer b = c.getRawData().asReadOnlyByteBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN).asIntBuffer();
                long[] out = new long[b.remaining()];
                for (int i = 0; i < out.length; i++) {
                    out[i] = b.get(i);
                }
                return out;
            }
            return c.getInt32DataList().stream().mapToLong(Integer::longValue).toArray();
        }
        return OnnxProtos.longValues(c);
    }

    private static int normalize(long axis, int rank) {
        return (int) (axis < 0 ? axis + rank : axis);
    }

    static long attrInt(NodeProto n, String name, long fallback) {
        for (AttributeProto a : n.getAttributeList()) {
            if (a.getName().equals(name)) {
                return a.getI();
            }
        }
        return fallback;
    }

    static float attrFloat(NodeProto n, String name, float fallback) {
        for (AttributeProto a : n.getAttributeList()) {
            if (a.getName().equals(name)) {
                return a.getF();
            }
        }
        return fallback;
    }

    static long[] attrInts(NodeProto n, String name) {
        for (AttributeProto a : n.getAttributeList()) {
            if (a.getName().equals(name)) {
                return a.getIntsList().stream().mapToLong(Long::longValue).toArray();
            }
        }
        return null;
    }
}
