package dev.igate.gateway.serving;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import dev.igate.protocol.Datatype;
import dev.igate.protocol.InferenceResponse;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Tensor;

/**
 * Triton's classification extension: an output requested with {@code classification: k} comes
 * back as BYTES, the last axis replaced by the k largest values, each {@code "value:index:label"}
 * ({@code "value:index"} where the model has no label for the index), largest first; the value
 * printed as C's {@code std::to_string} prints a float.
 */
final class TopClasses {

    private TopClasses() {
    }

    /**
     * @param labels the model's labels by index, or null when it has none
     * @throws InvalidInputException for a classification of an output that is not numeric or has no axis
     */
    static InferenceResponse apply(InferenceResponse response, Map<String, Integer> classifications, List<String> labels) {
        if (classifications.isEmpty()) {
            return response;
        }
        List<Tensor> outputs = new ArrayList<>(response.outputs().size());
        for (Tensor t : response.outputs()) {
            Integer k = classifications.get(t.name());
            outputs.add(k == null ? t : top(t, k, labels));
        }
        return new InferenceResponse(response.id(), response.model(), response.version(), outputs, response.parameters());
    }

    /** A numeric tensor's values (FP16 and BF16 are held as floats, the unsigned types as their signed Java arrays). */
    private static double[] doubles(Tensor t) {
        Object data = t.data();
        int n = java.lang.reflect.Array.getLength(data);
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            out[i] = ((Number) java.lang.reflect.Array.get(data, i)).doubleValue();
        }
        return out;
    }

    static Tensor top(Tensor t, int k, List<String> labels) {
        if (t.datatype() == Datatype.BYTES || t.datatype() == Datatype.BOOL || t.shape().length == 0) {
            throw new InvalidInputException("Output " + t.name() + " cannot be classified: classification needs a numeric output"
                    + " with a class axis, it is " + t.datatype() + " of shape " + Arrays.toString(t.shape()));
        }
        double[] values = doubles(t);
        int classes = (int) t.shape()[t.shape().length - 1];
        int rows = classes == 0 ? 0 : values.length / classes;
        int kept = Math.min(k, classes);
        String[] out = new String[rows * kept];
        for (int r = 0; r < rows; r++) {
            int base = r * classes;
            Integer[] order = new Integer[classes];
            for (int i = 0; i < classes; i++) {
                order[i] = i;
            }
            Arrays.sort(order, Comparator.comparingDouble((Integer i) -> values[base + i]).reversed());
            for (int j = 0; j < kept; j++) {
                int index = order[j];
                String label = labels != null && index < labels.size() ? ":" + labels.get(index) : "";
                out[r * kept + j] = String.format(Locale.ROOT, "%f:%d%s", values[base + index], index, label);
            }
        }
        long[] shape = t.shape().clone();
        shape[shape.length - 1] = kept;
        return Tensor.ofStrings(t.name(), shape, out);
    }
}
