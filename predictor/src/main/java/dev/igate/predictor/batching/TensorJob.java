package dev.igate.predictor.batching;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import dev.igate.protocol.Tensor;

/**
 * Raw input tensors whose first dimension is the batch. Jobs share a run when they have the
 * same input names, datatypes and non-batch dimensions, and ask for the same outputs; a job the
 * session cannot batch (see {@link #soloKey}) runs on its own. Token rows sent as tensors (an
 * {@code input_ids [rows, tokens]} input) count their tokens against max-batch-tokens as texts do.
 */
public final class TensorJob extends BatchJob<List<Tensor>> {

    /** What must match for two jobs to be concatenated along the batch dimension. */
    public record Signature(List<String> parts) {
    }

    /** The input whose second dimension counts tokens per row, as BERT-style exports name it. */
    public static final String TOKEN_INPUT = "input_ids";

    private final List<Tensor> inputs;
    private final List<String> outputs;
    private final int rowLength;

    public TensorJob(List<Tensor> inputs, List<String> outputs, boolean batchable) {
        super(rows(inputs, batchable && sameBatchDimension(inputs)),
                batchable && sameBatchDimension(inputs) ? signature(inputs, outputs) : soloKey());
        this.inputs = List.copyOf(inputs);
        this.outputs = List.copyOf(outputs);
        this.rowLength = inputs.stream().filter(t -> t.name().equals(TOKEN_INPUT) && t.shape().length == 2)
                .mapToInt(t -> (int) Math.min(Integer.MAX_VALUE, t.shape()[1])).findFirst().orElse(0);
    }

    @Override
    public int rowLength() {
        return rowLength;
    }

    /**
     * A job is batchable when the session's tensors all have a variable first dimension and every
     * input of this request has the same, non-zero, first dimension.
     */
    public static boolean sameBatchDimension(List<Tensor> inputs) {
        if (inputs.isEmpty() || inputs.get(0).shape().length == 0 || inputs.get(0).shape()[0] < 1) {
            return false;
        }
        long rows = inputs.get(0).shape()[0];
        return inputs.stream().allMatch(t -> t.shape().length > 0 && t.shape()[0] == rows);
    }

    private static int rows(List<Tensor> inputs, boolean batchable) {
        return batchable ? (int) Math.min(Integer.MAX_VALUE, inputs.get(0).shape()[0]) : 1;
    }

    private static Signature signature(List<Tensor> inputs, List<String> outputs) {
        List<String> parts = new ArrayList<>();
        inputs.stream().sorted((a, b) -> a.name().compareTo(b.name())).forEach(t -> parts.add(t.name() + ":" + t.datatype()
                + ":" + Arrays.toString(Arrays.copyOfRange(t.shape(), Math.min(1, t.shape().length), t.shape().length))));
        parts.add("->" + outputs);
        return new Signature(parts);
    }

    /** A key no other job has. */
    private static Object soloKey() {
        return new Object();
    }

    public List<Tensor> inputs() {
        return inputs;
    }

    public List<String> outputs() {
        return outputs;
    }
}
