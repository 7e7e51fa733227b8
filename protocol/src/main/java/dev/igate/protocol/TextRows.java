package dev.igate.protocol;

import java.util.List;

/**
 * The texts of a request, one per row, each with its second text ({@code text_pair}) when the
 * request sends pairs: what an NLI model or a cross-encoder reads as {@code [CLS] text [SEP] pair [SEP]}.
 *
 * @param texts the texts
 * @param pairs each text's second text, or null when the rows are single texts
 */
public record TextRows(List<String> texts, List<String> pairs) {

    public TextRows {
        texts = List.copyOf(texts);
        pairs = pairs == null ? null : List.copyOf(pairs);
        if (pairs != null && pairs.size() != texts.size()) {
            throw new InvalidInputException("Every text needs its text_pair: " + texts.size() + " texts, " + pairs.size() + " pairs");
        }
    }

    /** Single texts. */
    public static TextRows of(List<String> texts) {
        return new TextRows(texts, null);
    }

    /** Whether each row is a pair of texts. */
    public boolean paired() {
        return pairs != null;
    }

    public int size() {
        return texts.size();
    }

    /**
     * Rows from elements each with a text and maybe a second text: all with one or all without.
     *
     * @param pairs each row's second text, null where a row has none
     * @throws InvalidInputException when some rows have a second text and others do not
     */
    public static TextRows mixed(List<String> texts, List<String> pairs, String what) {
        long paired = pairs.stream().filter(java.util.Objects::nonNull).count();
        if (paired == 0) {
            return of(texts);
        }
        if (paired != pairs.size()) {
            throw new InvalidInputException("Either every " + what + " has a \"text_pair\" or none does: " + paired + " of "
                    + pairs.size() + " have one");
        }
        return new TextRows(texts, pairs);
    }
}
