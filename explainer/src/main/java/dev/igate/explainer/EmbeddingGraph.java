package dev.igate.explainer;

import static dev.igate.predictor.onnx.OnnxProtos.longs;
import static dev.igate.predictor.onnx.OnnxProtos.node;
import static dev.igate.predictor.onnx.OnnxProtos.tensorValue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;

/**
 * A classifier whose word-embedding lookup was cut out: the Gather of {@code input_ids} into the
 * {@code [vocab, hidden]} table became the graph input {@code inputs_embeds [batch, seq, hidden]},
 * and every Shape of {@code input_ids} now reads the first two dimensions of
 * {@code inputs_embeds}. The table itself moved out of the graph; {@link #lookup} reads it.
 *
 * @param model         the rewritten graph
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
     * @throws GradientUnavailableException when no Gather of input_ids from a 2-D initializer exists
     */
    public static EmbeddingGraph of(ModelProto model) throws GradientUnavailableException {
        GraphProto graph = model.getGraph();
        TensorProto table = null;
        NodeProto lookup = null;
        for (NodeProto n : graph.getNodeList()) {
            if (n.getOpType().equals("Gather") && n.getInputCount() == 2 && n.getInput(1).equals(INPUT_IDS)) {
                for (TensorProto t : graph.getInitializerList()) {
                    if (t.getName().equals(n.getInput(0)) && t.getDimsCount() == 2
                            && t.getDataType() == TensorProto.DataType.FLOAT_VALUE
                            && (table == null || t.getDims(0) > table.getDims(0))) {
                        table = t;
                        lookup = n;
                    }
                }
            }
        }
        if (lookup == null) {
            throw new GradientUnavailableException("No word-embedding lookup (a Gather of input_ids from a [vocab, hidden] "
                    + "float initializer) found in the model");
        }
        int vocab = (int) table.getDims(0);
        int hidden = (int) table.getDims(1);
        String embedded = lookup.getOutput(0);
        String tableName = table.getName();

        GraphProto.Builder g = graph.toBuilder().clearNode();
        g.addNode(node("Identity", "/explainer/inputs_embeds", List.of(INPUTS_EMBEDS), List.of(embedded)));
        g.addInitializer(longs("/explainer/ids_shape_starts", new long[] {1}, new long[] {0}));
        g.addInitializer(longs("/explainer/ids_shape_ends", new long[] {1}, new long[] {2}));
        g.addInitializer(longs("/explainer/ids_shape_axes", new long[] {1}, new long[] {0}));
        boolean needsIds = false;
        boolean tableUsedElsewhere = false;
        int shapes = 0;
        for (NodeProto n : graph.getNodeList()) {
            if (n == lookup) {
                continue;
            }
            if (n.getInputList().contains(tableName)) {
                tableUsedElsewhere = true;
            }
            if (!n.getInputList().contains(INPUT_IDS)) {
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
        FloatBuffer rows = copy(table);
        if (!tableUsedElsewhere) {
            List<TensorProto> kept = g.getInitializerList().stream().filter(t -> !t.getName().equals(tableName)).toList();
            g.clearInitializer().addAllInitializer(kept);
        }
        return new EmbeddingGraph(model.toBuilder().setGraph(g).build(), vocab, hidden, needsIds, rows);
    }

    private static FloatBuffer copy(TensorProto table) {
        float[] values = dev.igate.predictor.onnx.OnnxProtos.floatValues(table);
        FloatBuffer buffer = ByteBuffer.allocateDirect(values.length * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        buffer.put(values).flip();
        return buffer;
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
