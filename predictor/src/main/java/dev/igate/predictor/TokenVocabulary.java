package dev.igate.predictor;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Tensor;

/**
 * The number of rows of the embedding table that a model's {@code input_ids} index: the first
 * dimension of the constant a {@code Gather} reads with them (directly or through a {@code Cast};
 * the constant directly or through a {@code DequantizeLinear}, as int8 exports store it), or the
 * word table of ONNX Runtime's fused {@code EmbedLayerNormalization}.
 * An id outside it makes ONNX Runtime fail the whole run; checked here first, it is the one
 * request's 400 instead of a 500 for everybody in its batch.
 */
public final class TokenVocabulary {

    /** No embedding lookup of {@code input_ids} was found: nothing to check. */
    public static final TokenVocabulary UNKNOWN = new TokenVocabulary(0);

    private final long size;

    private TokenVocabulary(long size) {
        this.size = size;
    }

    public long size() {
        return size;
    }

    /** The vocabulary of a parsed model (its caller reads the file once for every fact it needs). */
    public static TokenVocabulary of(ModelProto model) {
        Map<String, TensorProto> initializers = new HashMap<>();
        model.getGraph().getInitializerList().forEach(t -> initializers.put(t.getName(), t));
        Set<String> ids = dev.igate.predictor.onnx.OnnxProtos.integerAliases(model.getGraph(), "input_ids").keySet();
        // an int8 table reaches its Gather through a DequantizeLinear: its rows are the quantized constant's
        Map<String, String> dequantized = new HashMap<>();
        for (NodeProto n : model.getGraph().getNodeList()) {
            if (n.getOpType().equals("DequantizeLinear") && n.getInputCount() > 0) {
                dequantized.put(n.getOutput(0), n.getInput(0));
            }
        }
        long smallest = 0;
        for (NodeProto n : model.getGraph().getNodeList()) {
            // ONNX Runtime's EmbedLayerNormalization looks the ids up in its word table, input 2
            boolean fused = n.getOpType().equals("EmbedLayerNormalization") && n.getInputCount() > 2 && ids.contains(n.getInput(0));
            if (fused || n.getOpType().equals("Gather") && n.getInputCount() == 2 && ids.contains(n.getInput(1))) {
                String data = fused ? n.getInput(2) : n.getInput(0);
                TensorProto table = initializers.get(dequantized.getOrDefault(data, data));
                if (table != null && table.getDimsCount() >= 1) {
                    long rows = table.getDims(0);
                    smallest = smallest == 0 ? rows : Math.min(smallest, rows);
                }
            }
        }
        return smallest == 0 ? UNKNOWN : new TokenVocabulary(smallest);
    }

    /**
     * @throws InvalidInputException when an {@code input_ids} tensor holds an id outside the vocabulary
     */
    public void check(Iterable<Tensor> inputs) {
        if (size == 0) {
            return;
        }
        for (Tensor t : inputs) {
            if (!t.name().equals("input_ids")) {
                continue;
            }
            if (t.data() instanceof long[] values) {
                for (int i = 0; i < values.length; i++) {
                    check(values[i], i);
                }
            } else if (t.data() instanceof int[] values) {
                for (int i = 0; i < values.length; i++) {
                    check(values[i], i);
                }
            }
        }
    }

    private void check(long id, int element) {
        if (id < 0 || id >= size) {
            throw new InvalidInputException("Input input_ids holds the token id " + id + " at element " + element
                    + ", outside the model's vocabulary of " + size + " (ids 0 to " + (size - 1) + ")");
        }
    }
}
