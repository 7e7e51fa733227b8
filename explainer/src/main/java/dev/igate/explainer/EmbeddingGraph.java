package dev.igate.explainer;

import static dev.igate.predictor.onnx.OnnxProtos.longs;
import static dev.igate.predictor.onnx.OnnxProtos.node;
import static dev.igate.predictor.onnx.OnnxProtos.tensorValue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.igate.predictor.SharedTables;
import dev.igate.predictor.onnx.OnnxProtos;

/**
 * A classifier whose word-embedding lookup was cut out: the Gather of {@code input_ids} into the
 * {@code [vocab, hidden]} table became the graph input {@code inputs_embeds [batch, seq, hidden]},
 * and every Shape of {@code input_ids} now reads the first two dimensions of
 * {@code inputs_embeds}. The table itself moved out of the graph; {@link #lookup} reads it.
 *
 * @param model         the rewritten graph (null once dropped: {@link #withoutModel})
 * @param vocab         rows of the embedding table
 * @param hidden        width of an embedding
 * @param needsInputIds true when some consumer of input_ids reads its values (e.g. RoBERTa's
 *                      position ids), so input_ids stays an input beside inputs_embeds
 */
public record EmbeddingGraph(ModelProto model, int vocab, int hidden, boolean needsInputIds, FloatBuffer table) {

    public static final String INPUT_IDS = "input_ids";
    public static final String INPUTS_EMBEDS = "inputs_embeds";

    /**
     * Rewrites a model.
     *
     * @throws GradientUnavailableException when no Gather of input_ids (or of a Cast or Identity of it) from a 2-D
     *                                      initializer exists
     */
    public static EmbeddingGraph of(ModelProto model) throws GradientUnavailableException {
        return of(model, SharedTables.NONE);
    }

    /**
     * Rewrites a model whose float word-embedding table, when it is one of {@code tables}, is read
     * from there rather than copied.
     *
     * @throws GradientUnavailableException when no Gather of input_ids (or of a Cast or Identity of it) from a 2-D
     *                                      initializer exists
     */
    public static EmbeddingGraph of(ModelProto model, SharedTables tables) throws GradientUnavailableException {
        GraphProto graph = model.getGraph();
        // input_ids and what merely retypes it (Cast to another integer type, Identity): exports cast
        // the ids to INT32 before the lookup
        Map<String, NodeProto> aliases = OnnxProtos.integerAliases(graph, INPUT_IDS);
        Set<String> ids = aliases.keySet();
        Set<NodeProto> retypes = new HashSet<>();
        aliases.values().stream().filter(java.util.Objects::nonNull).forEach(retypes::add);
        Map<String, TensorProto> initializers = new HashMap<>();
        graph.getInitializerList().forEach(t -> initializers.put(t.getName(), t));
        Table table = null;
        NodeProto lookup = null;
        for (NodeProto n : graph.getNodeList()) {
            if (n.getOpType().equals("Gather") && n.getInputCount() == 2 && ids.contains(n.getInput(1))) {
                Table t = table(graph, initializers, n.getInput(0));
                if (t == null) {
                    t = gatheredCodes(graph, initializers, n);
                }
                if (t != null && (table == null || t.vocab() > table.vocab())) {
                    table = t;
                    lookup = n;
                }
            }
        }
        if (lookup == null) {
            throw new GradientUnavailableException("No word-embedding lookup (a Gather of input_ids, or of a Cast of it, from a "
                    + "[vocab, hidden] float initializer or an int8 one through DequantizeLinear) found in the model");
        }
        int vocab = table.vocab();
        int hidden = table.hidden();
        NodeProto dequantize = table.dequantize();
        boolean dequantizedAfter = table.dequantizedAfter();
        String embedded = dequantizedAfter ? dequantize.getOutput(0) : lookup.getOutput(0);
        String tableName = lookup.getInput(0);
        NodeProto cut = lookup;
        // a retyping of the ids that only fed the lookup goes with it
        Set<NodeProto> dropped = new HashSet<>();
        for (boolean grew = true; grew; ) {
            grew = false;
            for (NodeProto r : retypes) {
                String out = r.getOutput(0);
                boolean used = graph.getNodeList().stream().anyMatch(m -> m != cut && !dropped.contains(m) && m.getInputList().contains(out))
                        || graph.getOutputList().stream().anyMatch(o -> o.getName().equals(out));
                if (!used && dropped.add(r)) {
                    grew = true;
                }
            }
        }

        GraphProto.Builder g = graph.toBuilder().clearNode();
        g.addNode(node("Identity", "/explainer/inputs_embeds", List.of(INPUTS_EMBEDS), List.of(embedded)));
        g.addInitializer(longs("/explainer/ids_shape_starts", new long[] {1}, new long[] {0}));
        g.addInitializer(longs("/explainer/ids_shape_ends", new long[] {1}, new long[] {2}));
        g.addInitializer(longs("/explainer/ids_shape_axes", new long[] {1}, new long[] {0}));
        boolean needsIds = false;
        boolean tableUsedElsewhere = false;
        int shapes = 0;
        for (NodeProto n : graph.getNodeList()) {
            boolean dequantizeOnlyForLookup = n == dequantize && graph.getNodeList().stream()
                    .noneMatch(m -> m != cut && m.getInputList().contains(tableName));
            if (n == lookup || dropped.contains(n) || dequantizeOnlyForLookup || dequantizedAfter && n == dequantize) {
                continue;
            }
            if (n.getInputList().contains(tableName)) {
                tableUsedElsewhere = true;
            }
            if (n.getInputList().stream().noneMatch(ids::contains)) {
                g.addNode(n);
            } else if (n.getOpType().equals("Shape") && n.getAttributeCount() == 0) {
                // Shape(input_ids) == Shape(inputs_embeds)[0:2]
                String full = "/explainer/embeds_shape_" + shapes++;
                g.addNode(node("Shape", full + "_node", List.of(INPUTS_EMBEDS), List.of(full)));
                g.addNode(node("Slice", full + "_slice", List.of(full, "/explainer/ids_shape_starts",
                        "/explainer/ids_shape_ends", "/explainer/ids_shape_axes"), List.of(n.getOutput(0))));
            } else {
                needsIds = true;
                g.addNode(n);
            }
        }
        if (tableUsedElsewhere) {
            needsIds = true;
        }
        List<ValueInfoProto> inputs = new ArrayList<>(g.getInputList());
        g.clearInput();
        g.addInput(tensorValue(INPUTS_EMBEDS, TensorProto.DataType.FLOAT, "batch", "sequence", (long) hidden));
        for (ValueInfoProto in : inputs) {
            if (!in.getName().equals(INPUT_IDS) || needsIds) {
                g.addInput(in);
            }
        }
        FloatBuffer shared = dequantize == null ? tables.floats(tableName) : null;
        FloatBuffer rows = shared != null && shared.capacity() == (long) vocab * hidden ? shared : copy(table.values().get());
        if (!tableUsedElsewhere) {
            Set<String> gone = new HashSet<>(List.of(tableName));
            if (dequantize != null) {
                gone.addAll(dequantize.getInputList());
            }
            List<TensorProto> kept = g.getInitializerList().stream().filter(t -> !gone.contains(t.getName())
                    || g.getNodeList().stream().anyMatch(m -> m.getInputList().contains(t.getName()))).toList();
            g.clearInitializer().addAllInitializer(kept);
        }
        return new EmbeddingGraph(model.toBuilder().setGraph(g).build(), vocab, hidden, needsIds, rows);
    }

    /**
     * An embedding table: a [vocab, hidden] float initializer, or an int8/uint8 one dequantized by a
     * DequantizeLinear of constant scale and zero point (as int8-quantized exports store it), either
     * before the lookup or, as ONNX Runtime's quantizer writes it, on the rows looked up.
     *
     * @param dequantize       the DequantizeLinear node, or null for a float table
     * @param dequantizedAfter whether the DequantizeLinear takes the lookup's output, not the table
     */
    private record Table(int vocab, int hidden, java.util.function.Supplier<float[]> values, NodeProto dequantize,
                         boolean dequantizedAfter) {
    }

    /**
     * A Gather of an int8/uint8 [vocab, hidden] initializer whose only consumer is a per-tensor
     * DequantizeLinear of constant scale and zero point, or null.
     */
    private static Table gatheredCodes(GraphProto graph, Map<String, TensorProto> initializers, NodeProto gather) {
        TensorProto q = initializers.get(gather.getInput(0));
        String rows = gather.getOutput(0);
        List<NodeProto> consumers = graph.getNodeList().stream().filter(m -> m.getInputList().contains(rows)).toList();
        if (q == null || q.getDimsCount() != 2 || consumers.size() != 1 || graph.getOutputList().stream().anyMatch(o -> o.getName().equals(rows))) {
            return null;
        }
        NodeProto d = consumers.get(0);
        if (!d.getOpType().equals("DequantizeLinear") || !d.getInput(0).equals(rows)) {
            return null;
        }
        // per tensor only: a per-axis scale on the looked-up rows would not be the table's
        TensorProto scale = d.getInputCount() > 1 ? initializers.get(d.getInput(1)) : null;
        if (scale == null || scale.getDataType() != TensorProto.DataType.FLOAT_VALUE || OnnxProtos.floatValues(scale).length != 1) {
            return null;
        }
        float[] values = dequantize(initializers, q, d);
        return values == null ? null : new Table((int) q.getDims(0), (int) q.getDims(1), () -> values, d, true);
    }

    private static Table table(GraphProto graph, Map<String, TensorProto> initializers, String name) {
        TensorProto t = initializers.get(name);
        if (t != null) {
            return t.getDimsCount() == 2 && t.getDataType() == TensorProto.DataType.FLOAT_VALUE
                    // read only when copied: a table the serving sessions share is read from there
                    ? new Table((int) t.getDims(0), (int) t.getDims(1), () -> OnnxProtos.floatValues(t), null, false)
                    : null;
        }
        for (NodeProto d : graph.getNodeList()) {
            if (d.getOpType().equals("DequantizeLinear") && d.getOutput(0).equals(name)) {
                TensorProto q = initializers.get(d.getInput(0));
                float[] values = q == null || q.getDimsCount() != 2 ? null : dequantize(initializers, q, d);
                return values == null ? null : new Table((int) q.getDims(0), (int) q.getDims(1), () -> values, d, false);
            }
        }
        return null;
    }

    /**
     * The float values of a [rows, cols] int8/uint8 constant as DequantizeLinear {@code d} computes
     * them, from its constant scale and zero point (per tensor, per row or per column), or null.
     */
    private static float[] dequantize(Map<String, TensorProto> initializers, TensorProto q, NodeProto d) {
        TensorProto scale = d.getInputCount() > 1 ? initializers.get(d.getInput(1)) : null;
        TensorProto zero = d.getInputCount() > 2 && !d.getInput(2).isEmpty() ? initializers.get(d.getInput(2)) : null;
        if (scale == null || scale.getDataType() != TensorProto.DataType.FLOAT_VALUE) {
            return null;
        }
        int rows = (int) q.getDims(0);
        int cols = (int) q.getDims(1);
        int[] codes = OnnxProtos.byteValues(q);
        int[] zeros = zero == null ? new int[1] : OnnxProtos.byteValues(zero);
        if (codes == null || zeros == null) {
            return null;
        }
        float[] scales = OnnxProtos.floatValues(scale);
        int axis = (int) GradientBuilder.attrInt(d, "axis", 1);
        float[] values = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                // per tensor, or per row (axis 0) or per column (axis 1)
                int k = scales.length == 1 ? 0 : axis == 0 ? r : c;
                values[r * cols + c] = (codes[r * cols + c] - zeros[zeros.length == 1 ? 0 : k]) * scales[k];
            }
        }
        return values;
    }


    private static FloatBuffer copy(float[] values) {
        FloatBuffer buffer = ByteBuffer.allocateDirect(values.length * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        buffer.put(values).flip();
        return buffer;
    }

    /** This lookup without its model (null after), for holders that need only the table. */
    public EmbeddingGraph withoutModel() {
        return new EmbeddingGraph(null, vocab, hidden, needsInputIds, table);
    }

    /** Writes the embedding of each id, one after another, into {@code out} from {@code offset}. */
    public void lookup(long[] ids, float[] out, int offset) {
        for (int i = 0; i < ids.length; i++) {
            long id = ids[i];
            if (id < 0 || id >= vocab) {
                throw new IllegalArgumentException("token id " + id + " outside the vocabulary of " + vocab);
            }
            table.get((int) id * hidden, out, offset + i * hidden, hidden);
        }
    }
}
