package dev.igate.predictor.batching;

import java.lang.reflect.Array;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import dev.igate.predictor.ModelInstances;
import dev.igate.predictor.OnnxModel;
import dev.igate.protocol.Tensor;
import dev.igate.protocol.TensorMetadata;

/**
 * Runs batches on a model version's sessions, each on the instance (or solo session) the batcher
 * chose. Token jobs are padded to the longest row of the
 * batch (pad id, mask 0) and each job gets its rows of the output, shaped (a per-token output cut
 * to the job's own length); tensor jobs are concatenated
 * along the batch dimension and every output is split back by rows.
 */
public final class OnnxBatchExecutor implements BatchExecutor<BatchJob<?>> {

    private final ModelInstances sessions;
    private final String logitsOutput;
    private final long padId;

    public OnnxBatchExecutor(ModelInstances sessions, String logitsOutput, long padId) {
        this.sessions = sessions;
        this.logitsOutput = logitsOutput;
        this.padId = padId;
    }

    /** One session as the only instance. */
    public OnnxBatchExecutor(OnnxModel model, String logitsOutput, long padId) {
        this(ModelInstances.single(model), logitsOutput, padId);
    }

    @Override
    public int instances() {
        return sessions.count();
    }

    @Override
    public boolean canRunSolo(BatchJob<?> first) {
        return sessions.solo() != null;
    }

    /** Whether tensor jobs can be batched: every input and output has a variable first dimension. */
    public boolean batchesTensors() {
        for (List<TensorMetadata> list : List.of(sessions.first().inputs(), sessions.first().outputs())) {
            for (TensorMetadata t : list) {
                if (t.shape().length == 0 || t.shape()[0] != -1) {
                    return false;
                }
            }
        }
        return true;
    }

    @Override
    public void execute(List<BatchJob<?>> batch, Placement placement) {
        OnnxModel session = placement.solo() ? sessions.solo() : sessions.instance(placement.instance());
        if (batch.get(0) instanceof TokenJob) {
            runTokens(session, batch.stream().map(TokenJob.class::cast).toList());
        } else {
            runTensors(session, batch.stream().map(TensorJob.class::cast).toList());
        }
    }

    private void runTokens(OnnxModel model, List<TokenJob> jobs) {
        int rows = 0;
        int length = 0;
        for (TokenJob j : jobs) {
            rows += j.rows();
            length = Math.max(length, j.length());
        }
        long[] ids = new long[rows * length];
        long[] mask = new long[rows * length];
        long[] types = new long[rows * length];
        Arrays.fill(ids, padId);
        int r = 0;
        for (TokenJob j : jobs) {
            int n = j.length();
            for (int i = 0; i < j.rows(); i++, r++) {
                System.arraycopy(j.ids(), i * n, ids, r * length, n);
                System.arraycopy(j.mask(), i * n, mask, r * length, n);
                System.arraycopy(j.types(), i * n, types, r * length, n);
            }
        }
        List<Tensor> feeds = model.tokenFeeds(new long[] {rows, length}, ids, mask, types);
        Tensor output = model.run(feeds, List.of(logitsOutput)).get(0);
        r = 0;
        for (TokenJob j : jobs) {
            j.future().complete(rowsOf(output, r, j.rows(), length, j.length()));
            r += j.rows();
        }
    }

    /**
     * Rows {@code [from, from + count)} of a batch's output. An output with a token dimension (its
     * second, as long as the batch's rows) is cut to {@code tokens}, the job's own length.
     */
    static Tensor rowsOf(Tensor output, int from, int count, int batchLength, int tokens) {
        long[] shape = output.shape().clone();
        float[] all = output.floats();
        int rows = (int) shape[0];
        int rowSize = rows == 0 ? 0 : all.length / rows;
        boolean perToken = shape.length >= 3 && shape[1] == batchLength && tokens < batchLength;
        shape[0] = count;
        if (!perToken) {
            return Tensor.ofFloats(output.name(), shape, Arrays.copyOfRange(all, from * rowSize, (from + count) * rowSize));
        }
        int tokenSize = rowSize / batchLength;
        shape[1] = tokens;
        float[] out = new float[count * tokens * tokenSize];
        for (int i = 0; i < count; i++) {
            System.arraycopy(all, (from + i) * rowSize, out, i * tokens * tokenSize, tokens * tokenSize);
        }
        return Tensor.ofFloats(output.name(), shape, out);
    }

    private void runTensors(OnnxModel model, List<TensorJob> jobs) {
        if (jobs.size() == 1) {
            TensorJob j = jobs.get(0);
            j.future().complete(model.run(j.inputs(), j.outputs()));
            return;
        }
        List<Tensor> merged = new ArrayList<>();
        for (Tensor first : jobs.get(0).inputs()) {
            List<Tensor> parts = jobs.stream().map(j -> find(j.inputs(), first.name())).toList();
            merged.add(concat(first.name(), parts));
        }
        List<Tensor> outputs = model.run(merged, jobs.get(0).outputs());
        long total = merged.get(0).shape()[0];
        if (outputs.stream().anyMatch(o -> o.shape().length == 0 || o.shape()[0] != total)) {
            // an output without a batch dimension cannot be split by rows: answer each job from its own run
            for (TensorJob j : jobs) {
                j.future().complete(model.run(j.inputs(), j.outputs()));
            }
            return;
        }
        int offset = 0;
        for (TensorJob j : jobs) {
            List<Tensor> mine = new ArrayList<>(outputs.size());
            for (Tensor out : outputs) {
                mine.add(rows(out, offset, j.rows()));
            }
            offset += j.rows();
            j.future().complete(mine);
        }
    }

    private static Tensor find(List<Tensor> tensors, String name) {
        return tensors.stream().filter(t -> t.name().equals(name)).findFirst().orElseThrow();
    }

    static Tensor concat(String name, List<Tensor> parts) {
        Tensor first = parts.get(0);
        long[] shape = first.shape().clone();
        shape[0] = parts.stream().mapToLong(t -> t.shape()[0]).sum();
        Object data = Array.newInstance(first.data().getClass().getComponentType(), Math.toIntExact(Tensor.elementCount(shape)));
        int at = 0;
        for (Tensor t : parts) {
            System.arraycopy(t.data(), 0, data, at, t.size());
            at += t.size();
        }
        return new Tensor(name, first.datatype(), shape, data);
    }

    static Tensor rows(Tensor t, int from, int count) {
        long[] shape = t.shape().clone();
        int perRow = (int) (t.size() / shape[0]);
        shape[0] = count;
        Object data = Array.newInstance(t.data().getClass().getComponentType(), count * perRow);
        System.arraycopy(t.data(), from * perRow, data, 0, count * perRow);
        return new Tensor(t.name(), t.datatype(), shape, data);
    }
}
