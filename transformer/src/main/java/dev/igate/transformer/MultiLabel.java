package dev.igate.transformer;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

import dev.igate.protocol.Tensor;

/**
 * Multi-label classification ({@code problem_type: multi_label_classification}): each output is
 * an independent sigmoid, and a text has every label whose probability reaches the threshold (none,
 * one or several), most probable first.
 */
public final class MultiLabel implements Task {

    /** A label applies from this sigmoid probability on, as HuggingFace's examples threshold. */
    public static final float THRESHOLD = 0.5f;

    private final List<String> labels;
    private final float threshold;

    public MultiLabel(List<String> labels, float threshold) {
        if (labels.isEmpty()) {
            throw new IllegalArgumentException("a classifier needs at least one label");
        }
        this.labels = List.copyOf(labels);
        this.threshold = threshold;
    }

    @Override
    public String problemType() {
        return MULTI_LABEL;
    }

    @Override
    public List<String> labels() {
        return labels;
    }

    @Override
    public List<Prediction> decode(Tensor output, TokenBatch tokens) {
        int rows = tokens.rows();
        int width = labels.size();
        float[] logits = Task.matrix(output, rows, width);
        List<Prediction> out = new ArrayList<>(rows);
        for (int r = 0; r < rows; r++) {
            float[] p = new float[width];
            List<Integer> over = new ArrayList<>();
            for (int j = 0; j < width; j++) {
                p[j] = (float) (1 / (1 + Math.exp(-logits[r * width + j])));
                if (p[j] >= threshold) {
                    over.add(j);
                }
            }
            over.sort(Comparator.comparingDouble((Integer j) -> p[j]).reversed());
            int best = LabelDecoder.argmax(p);
            out.add(new Prediction(best, labels.get(best), p, over.stream().map(labels::get).toList()));
        }
        return out;
    }

    @Override
    public Object v1(Prediction p, boolean detailed) {
        if (!detailed) {
            return p.labels();
        }
        java.util.Map<String, Object> o = new java.util.LinkedHashMap<>();
        o.put("labels", p.labels());
        o.put("probabilities", Task.byLabel(labels, p.scores()));
        return o;
    }

    /** Each text's labels, a list (a BYTES element holding its JSON array): a text may have none or several. */
    @Override
    public Object answer(Prediction p) {
        return p.labels();
    }

    @Override
    public String summary(Prediction p) {
        return p.labels().isEmpty() ? "(no label reaches " + threshold + ")" : String.join(", ", p.labels());
    }
}
