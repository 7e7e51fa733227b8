package dev.igate.explainer;

import static dev.igate.predictor.onnx.OnnxProtos.floatAttr;
import static dev.igate.predictor.onnx.OnnxProtos.intAttr;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;

/**
 * Rewrites ONNX Runtime's fused transformer operators (com.microsoft, as its transformer optimizer
 * writes them) into the ONNX operators they stand for, for the explainer's graphs only (the
 * serving sessions keep the fused model):
 * <ul>
 * <li>EmbedLayerNormalization, which hides the word-embedding lookup: Gathers of the word,
 * position and segment tables, their sum, LayerNorm, and the mask index (the mask's row sums);</li>
 * <li>Attention: the packed query/key/value projection, heads, scaled scores with the mask (a 1-D
 * mask index of end positions, or a 2-D 0/1 mask) and an additive attention bias, softmax, and the
 * heads put back together.</li>
 * </ul>
 * The other fused operators (SkipLayerNormalization, BiasGelu, FusedMatMul, ...) have gradient
 * rules of their own in {@link GradientBuilder}.
 */
final class FusedOperators {

    static final float DEFAULT_EMBED_EPSILON = 1e-12f;
    static final float DEFAULT_MASK_FILTER = -10000f;

    private final GraphWriter w;
    private final GraphProto source;
    /** Rank of the mask index tensors known: 1 for EmbedLayerNormalization's, else a declared input's. */
    private final Map<String, Integer> ranks = new HashMap<>();

    private FusedOperators(GraphProto.Builder target, GraphProto source, int opset) {
        this.w = new GraphWriter(target, opset);
        this.source = source;
        for (ValueInfoProto in : source.getInputList()) {
            if (in.getType().getTensorType().hasShape()) {
                ranks.put(in.getName(), in.getType().getTensorType().getShape().getDimCount());
            }
        }
    }

    /** Whether the model has an operator this class rewrites. */
    static boolean present(ModelProto model) {
        return model.getGraph().getNodeList().stream().anyMatch(FusedOperators::rewritten);
    }

    private static boolean rewritten(NodeProto n) {
        return n.getDomain().equals("com.microsoft")
                && (n.getOpType().equals("EmbedLayerNormalization") || n.getOpType().equals("Attention"));
    }

    /**
     * The model with its EmbedLayerNormalization and Attention nodes decomposed (an Attention of a
     * form this rewrite does not cover, with past state, unidirectional, rotary or with a mask of
     * unknown form, stays fused); the model itself when it has none.
     */
    static ModelProto decompose(ModelProto model) {
        if (!present(model)) {
            return model;
        }
        GraphProto source = model.getGraph();
        GraphProto.Builder target = source.toBuilder();
        FusedOperators f = new FusedOperators(target, source, GradientBuilder.opset(model));
        target.clearNode();
        for (NodeProto n : source.getNodeList()) {
            if (!rewritten(n)) {
                target.addNode(n);
                // a mask cast to another type keeps its rank
                if (n.getOpType().equals("Cast") && f.ranks.containsKey(n.getInput(0))) {
                    f.ranks.put(n.getOutput(0), f.ranks.get(n.getInput(0)));
                }
            } else if (n.getOpType().equals("EmbedLayerNormalization")) {
                f.embedLayerNorm(n);
            } else {
                try {
                    f.attention(n);
                } catch (GradientUnavailableException e) {
                    // checked before anything is written: the node stays fused, and the gradient graph names it
                    target.addNode(n);
                }
            }
        }
        return model.toBuilder().setGraph(target).build();
    }

    private static String input(NodeProto n, int i) {
        return n.getInputCount() > i && !n.getInput(i).isEmpty() ? n.getInput(i) : null;
    }

    private static String output(NodeProto n, int i) {
        return n.getOutputCount() > i && !n.getOutput(i).isEmpty() ? n.getOutput(i) : null;
    }

    /** Gives a computed tensor the fused node's output name, which the model's consumers read. */
    private void bind(String computed, String name) {
        w.graph().addNode(NodeProto.newBuilder().setOpType("Identity").setName(name + "/decomposed").addInput(computed).addOutput(name));
    }

    private void embedLayerNorm(NodeProto n) {
        String ids = n.getInput(0);
        String segments = input(n, 1);
        String positionIds = input(n, 8);
        String sum = w.op("Gather", n.getInput(2), ids);
        String positions = positionIds != null ? positionIds : w.op("Range", List.of(w.int64(0),
                w.op("Gather", w.shape(ids), w.int64(1)), w.int64(1)));
        sum = w.op("Add", sum, w.op("Gather", n.getInput(3), positions));
        if (segments != null && input(n, 4) != null) {
            sum = w.op("Add", sum, w.op("Gather", n.getInput(4), segments));
        }
        float epsilon = GradientBuilder.attrFloat(n, "epsilon", DEFAULT_EMBED_EPSILON);
        String normalized;
        if (w.opset() >= 17) {
            normalized = w.op("LayerNormalization", List.of(sum, n.getInput(5), n.getInput(6)), intAttr("axis", -1),
                    floatAttr("epsilon", epsilon));
        } else {
            String centered = w.op("Sub", sum, w.reduceMean(sum, new long[] {-1}));
            String variance = w.reduceMean(w.op("Mul", centered, centered), new long[] {-1});
            String scaled = w.op("Div", centered, w.op("Sqrt", w.op("Add", variance, w.scalar(epsilon))));
            normalized = w.op("Add", w.op("Mul", scaled, n.getInput(5)), n.getInput(6));
        }
        bind(normalized, n.getOutput(0));
        String maskIndex = output(n, 1);
        if (maskIndex != null) {
            String mask = input(n, 7);
            if (mask == null) {
                // without a mask every position counts: the sequence length for each row
                String shape = w.shape(ids);
                String length = w.op("Cast", w.op("Gather", shape, w.int64s(1)), intAttr("to", TensorProto.DataType.INT32_VALUE));
                bind(w.op("Expand", length, w.op("Gather", shape, w.int64s(0))), maskIndex);
            } else {
                bind(w.reduceSum(mask, new long[] {1}, false), maskIndex);
            }
            ranks.put(maskIndex, 1);
        }
        String embeddingSum = output(n, 2);
        if (embeddingSum != null) {
            bind(sum, embeddingSum);
        }
    }

    private void attention(NodeProto n) throws GradientUnavailableException {
        for (int i : new int[] {4, 6}) {
            if (input(n, i) != null) {
                throw new GradientUnavailableException("Attention with past state is not supported (node " + n.getName() + ")");
            }
        }
        if (GradientBuilder.attrInt(n, "unidirectional", 0) != 0 || GradientBuilder.attrInt(n, "do_rotary", 0) != 0
                || output(n, 1) != null) {
            throw new GradientUnavailableException("Unidirectional, rotary or cached Attention is not supported (node "
                    + n.getName() + ")");
        }
        String weights = input(n, 1);
        if (weights == null) {
            throw new GradientUnavailableException("Attention without packed weights is not supported (node " + n.getName() + ")");
        }
        int heads = (int) GradientBuilder.attrInt(n, "num_heads", 0);
        TensorProto w0 = source.getInitializerList().stream().filter(t -> t.getName().equals(weights)).findFirst().orElse(null);
        long[] sizes = GradientBuilder.attrInts(n, "qkv_hidden_sizes");
        if (sizes == null) {
            if (w0 == null || w0.getDimsCount() != 2) {
                throw new GradientUnavailableException("Attention weights of unknown shape (node " + n.getName() + ")");
            }
            long each = w0.getDims(1) / 3;
            sizes = new long[] {each, each, each};
        }
        if (heads <= 0 || sizes[0] % heads != 0 || sizes[2] % heads != 0) {
            throw new GradientUnavailableException("Attention with " + heads + " heads over hidden sizes "
                    + java.util.Arrays.toString(sizes) + " (node " + n.getName() + ")");
        }
        String mask = input(n, 3);
        if (mask != null && (ranks.get(mask) == null || ranks.get(mask) > 2)) {
            throw new GradientUnavailableException("Attention mask " + mask + " of unknown form (node " + n.getName() + ")");
        }
        String qkv = w.op("MatMul", n.getInput(0), weights);
        if (input(n, 2) != null) {
            qkv = w.op("Add", qkv, n.getInput(2));
        }
        String q = heads(part(qkv, 0, sizes[0]), heads, 0, 2, 1, 3);
        String k = heads(part(qkv, sizes[0], sizes[0] + sizes[1]), heads, 0, 2, 3, 1);
        String v = heads(part(qkv, sizes[0] + sizes[1], sizes[0] + sizes[1] + sizes[2]), heads, 0, 2, 1, 3);
        float scale = GradientBuilder.attrFloat(n, "scale", 0f);
        if (scale == 0f) {
            scale = (float) (1 / Math.sqrt((double) sizes[0] / heads));
        }
        String scores = w.op("Mul", w.op("MatMul", q, k), w.scalar(scale));
        if (mask != null) {
            scores = w.op("Add", scores, additiveMask(n, mask, n.getInput(0)));
        }
        if (input(n, 5) != null) {
            scores = w.op("Add", scores, n.getInput(5));
        }
        String probabilities = w.op("Softmax", List.of(scores), intAttr("axis", -1));
        String context = w.transpose(w.op("MatMul", probabilities, v), new long[] {0, 2, 1, 3});
        bind(w.op("Reshape", context, w.int64s(0, 0, sizes[2])), n.getOutput(0));
    }

    /** Columns [from, to) of the last axis. */
    private String part(String x, long from, long to) {
        return w.op("Slice", List.of(x, w.int64s(from), w.int64s(to), w.int64s(-1)));
    }

    /** [batch, seq, heads x size] to [batch, heads, ., .] in the order {@code perm} of (batch, seq, head, size). */
    private String heads(String x, int heads, long... perm) {
        return w.transpose(w.op("Reshape", x, w.int64s(0, 0, heads, -1)), perm);
    }

    /**
     * The mask as scores to add, [batch, 1, 1, seq]: 0 where attended, mask_filter_value where not.
     * A 1-D mask index holds each row's end position (right padding); a 2-D mask is 1 or 0 per position.
     */
    private String additiveMask(NodeProto n, String mask, String input) {
        String attended;
        if (ranks.get(mask) == 1) {
            String positions = w.op("Range", List.of(w.int64(0), w.op("Gather", w.shape(input), w.int64(1)), w.int64(1)));
            String ends = w.unsqueeze(w.op("Cast", mask, intAttr("to", TensorProto.DataType.INT64_VALUE)), new long[] {1});
            attended = w.op("Cast", w.op("Less", positions, ends), intAttr("to", TensorProto.DataType.FLOAT_VALUE));
        } else {
            attended = w.op("Cast", mask, intAttr("to", TensorProto.DataType.FLOAT_VALUE));
        }
        float filter = GradientBuilder.attrFloat(n, "mask_filter_value", DEFAULT_MASK_FILTER);
        String additive = w.op("Mul", w.op("Sub", w.scalar(1f), attended), w.scalar(filter));
        return w.unsqueeze(additive, new long[] {1, 2});
    }
}
