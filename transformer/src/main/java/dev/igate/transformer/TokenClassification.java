package dev.igate.transformer;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Tensor;

/**
 * Token classification (named-entity recognition, {@code *ForTokenClassification}): the model
 * answers {@code [texts, tokens, labels]}, a label per token, and a text's answer is its entities,
 * with HuggingFace's token-classification pipeline's semantics:
 * <ul>
 * <li>{@code none}: every token its own entity ({@code entity}, {@code index}, the token as
 * {@code word});
 * <li>{@code simple}: tokens grouped into entities by their labels' B-/I- prefixes
 * ({@code entity_group}, the mean of their scores);
 * <li>{@code first}, {@code average}, {@code max}: each word first takes the label of its first
 * token, of its tokens' mean probabilities, or of its most confident token, then words are grouped
 * as {@code simple} groups tokens (so a word is never split between entities).
 * </ul>
 * Special tokens are skipped; entities whose label is in {@code ignore} ({@code O} by default) are
 * left out. {@code start}/{@code end} are code point offsets into the text, as Python indexes it, so
 * {@code text[start:end]} is the entity's surface text, accents and emoji included.
 */
public final class TokenClassification implements Task {

    /** How token labels become entities. */
    public enum Aggregation {
        NONE, SIMPLE, FIRST, AVERAGE, MAX;

        /** By HuggingFace's name ({@code none}, {@code simple}, ...). */
        public static Aggregation of(String name) {
            try {
                return valueOf(name.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("aggregation_strategy must be none, simple, first, average or max, was " + name);
            }
        }
    }

    private final List<String> labels;
    private final Aggregation aggregation;
    private final Set<String> ignore;

    public TokenClassification(List<String> labels, Aggregation aggregation, Set<String> ignore) {
        if (labels.isEmpty()) {
            throw new IllegalArgumentException("a token classifier needs at least one label");
        }
        this.labels = List.copyOf(labels);
        this.aggregation = aggregation;
        this.ignore = Set.copyOf(ignore);
    }

    /** The request parameter that picks the aggregation strategy, as HuggingFace's pipeline names it. */
    public static final String AGGREGATION_PARAMETER = "aggregation_strategy";
    /** The request parameter that lists the labels left out, as HuggingFace's pipeline names it. */
    public static final String IGNORE_PARAMETER = "ignore_labels";

    public Aggregation aggregation() {
        return aggregation;
    }

    public Set<String> ignored() {
        return ignore;
    }

    /**
     * With the request's {@code aggregation_strategy} (a name) and {@code ignore_labels} (a list of
     * labels, or one comma-separated string), in place of the model's.
     */
    @Override
    public Task forRequest(Map<String, Object> parameters) {
        Object strategy = parameters.get(AGGREGATION_PARAMETER);
        Object ignored = parameters.get(IGNORE_PARAMETER);
        if (strategy == null && ignored == null) {
            return this;
        }
        Aggregation a = aggregation;
        if (strategy != null) {
            if (!(strategy instanceof String name)) {
                throw new InvalidInputException(AGGREGATION_PARAMETER + " must be a string: none, simple, first, average or max");
            }
            try {
                a = Aggregation.of(name);
            } catch (IllegalArgumentException e) {
                throw new InvalidInputException(e.getMessage());
            }
        }
        Set<String> skip = ignore;
        if (ignored != null) {
            // a JSON array (as V2 parameters keep one) or a comma-separated string
            skip = new java.util.LinkedHashSet<>(dev.igate.protocol.Json.stringList(ignored, IGNORE_PARAMETER));
        }
        return new TokenClassification(labels, a, skip);
    }

    @Override
    public String problemType() {
        return TOKEN_CLASSIFICATION;
    }

    @Override
    public List<String> labels() {
        return labels;
    }

    /** One token of a text: its position, probabilities and span (UTF-16 indices). */
    private record Scored(int token, float[] p, int start, int end, long word, String text) {
    }

    @Override
    public List<Prediction> decode(Tensor output, TokenBatch tokens) {
        long[] shape = output.shape();
        int width = labels.size();
        if (shape.length != 3 || shape[0] != tokens.rows() || shape[1] != tokens.length() || shape[2] != width) {
            throw new IllegalArgumentException("the model's output " + output.name() + " has shape " + java.util.Arrays.toString(shape)
                    + ", expected [" + tokens.rows() + ", " + tokens.length() + ", " + width + "]: texts x tokens x labels");
        }
        float[] logits = output.floats();
        List<Prediction> out = new ArrayList<>(tokens.rows());
        for (int r = 0; r < tokens.rows(); r++) {
            List<Scored> scored = new ArrayList<>();
            float[] strongest = new float[width];
            for (int j = 0; j < tokens.length(); j++) {
                int at = r * tokens.length() + j;
                if (tokens.attentionMask()[at] == 0 || tokens.charStarts()[r][j] < 0) {
                    continue;
                }
                float[] p = LabelDecoder.softmax(logits, at * width, width);
                for (int k = 0; k < width; k++) {
                    strongest[k] = Math.max(strongest[k], p[k]);
                }
                scored.add(new Scored(j, p, tokens.charStarts()[r][j], tokens.charEnds()[r][j], tokens.wordIds()[r][j],
                        tokens.tokens()[r][j]));
            }
            String text = tokens.texts().get(r);
            List<Prediction.Entity> entities = switch (aggregation) {
                case NONE -> perToken(scored, text);
                case SIMPLE -> grouped(perToken(scored, text), text);
                default -> grouped(perWord(scored, text), text);
            };
            entities = entities.stream().filter(e -> !ignore.contains(e.label())).toList();
            int best = LabelDecoder.argmax(strongest);
            out.add(new Prediction(best, labels.get(best), strongest, entities.stream().map(Prediction.Entity::label).toList(),
                    entities));
        }
        return out;
    }

    /**
     * A token's entity: its most probable label. Its word is the text it covers (so
     * {@code text[start:end] == word} holds for every strategy), not the tokenizer's form of it
     * ({@code ##mium}, lower-cased), which HuggingFace's pipeline answers here.
     */
    private List<Prediction.Entity> perToken(List<Scored> scored, String text) {
        List<Prediction.Entity> out = new ArrayList<>(scored.size());
        for (Scored s : scored) {
            int k = LabelDecoder.argmax(s.p());
            out.add(entity(labels.get(k), s.p()[k], text.substring(s.start(), s.end()), s.start(), s.end(), s.token(), text));
        }
        return out;
    }

    /** Each word's entity (consecutive tokens of one word id), labelled as the aggregation says. */
    private List<Prediction.Entity> perWord(List<Scored> scored, String text) {
        List<Prediction.Entity> out = new ArrayList<>();
        int i = 0;
        while (i < scored.size()) {
            int j = i + 1;
            while (j < scored.size() && scored.get(j).word() >= 0 && scored.get(j).word() == scored.get(i).word()
                    && scored.get(j).token() == scored.get(j - 1).token() + 1) {
                j++;
            }
            List<Scored> word = scored.subList(i, j);
            float[] p = switch (aggregation) {
                case FIRST -> word.get(0).p();
                case AVERAGE -> mean(word);
                default -> word.stream().max(java.util.Comparator.comparingDouble(s -> s.p()[LabelDecoder.argmax(s.p())]))
                        .orElseThrow().p();
            };
            int k = LabelDecoder.argmax(p);
            int start = word.get(0).start();
            int end = word.get(word.size() - 1).end();
            out.add(entity(labels.get(k), p[k], text.substring(start, end), start, end, -1, text));
            i = j;
        }
        return out;
    }

    private float[] mean(List<Scored> word) {
        float[] sum = new float[labels.size()];
        for (Scored s : word) {
            for (int k = 0; k < sum.length; k++) {
                sum[k] += s.p()[k] / word.size();
            }
        }
        return sum;
    }

    /**
     * Consecutive entities of one tag joined, as HuggingFace's {@code group_entities}: an entity
     * joins the group before it when it has the group's tag and is not a {@code B-} (a label without
     * a prefix continues its group).
     */
    private static List<Prediction.Entity> grouped(List<Prediction.Entity> entities, String text) {
        List<Prediction.Entity> out = new ArrayList<>();
        List<Prediction.Entity> group = new ArrayList<>();
        for (Prediction.Entity e : entities) {
            if (!group.isEmpty()) {
                String[] tag = tag(e.label());
                if (!(tag[1].equals(tag(group.get(group.size() - 1).label())[1]) && !tag[0].equals("B"))) {
                    out.add(group(group, text));
                    group.clear();
                }
            }
            group.add(e);
        }
        if (!group.isEmpty()) {
            out.add(group(group, text));
        }
        return out;
    }

    /** {B or I, the label without its prefix}; a label without one continues ("I"). */
    private static String[] tag(String label) {
        if (label.startsWith("B-") || label.startsWith("I-")) {
            return new String[] {label.substring(0, 1), label.substring(2)};
        }
        return new String[] {"I", label};
    }

    private static Prediction.Entity group(List<Prediction.Entity> members, String text) {
        double score = 0;
        for (Prediction.Entity m : members) {
            score += m.score();
        }
        int start = text.offsetByCodePoints(0, members.get(0).start());
        int end = text.offsetByCodePoints(0, members.get(members.size() - 1).end());
        return new Prediction.Entity(tag(members.get(0).label())[1], (float) (score / members.size()), text.substring(start, end),
                members.get(0).start(), members.get(members.size() - 1).end(), -1);
    }

    /** An entity whose span is given in UTF-16 indices, its offsets made code point indices. */
    private static Prediction.Entity entity(String label, float score, String word, int start, int end, int token, String text) {
        return new Prediction.Entity(label, score, word, text.codePointCount(0, start), text.codePointCount(0, end), token);
    }

    @Override
    public Object v1(Prediction p, boolean detailed) {
        return answer(p);
    }

    /** The entities, as the pipeline answers them (a BYTES element holding their JSON array). */
    @Override
    public Object answer(Prediction p) {
        List<Map<String, Object>> out = new ArrayList<>(p.entities().size());
        for (Prediction.Entity e : p.entities()) {
            Map<String, Object> m = new java.util.LinkedHashMap<>();
            if (aggregation == Aggregation.NONE) {
                m.put("entity", e.label());
                m.put("score", e.score());
                m.put("index", e.token());
            } else {
                m.put("entity_group", e.label());
                m.put("score", e.score());
            }
            m.put("word", e.word());
            m.put("start", e.start());
            m.put("end", e.end());
            out.add(m);
        }
        return out;
    }

    @Override
    public String summary(Prediction p) {
        return p.entities().isEmpty() ? "(no entity)"
                : String.join(", ", p.entities().stream().map(e -> e.label() + ": " + e.word()).toList());
    }
}
