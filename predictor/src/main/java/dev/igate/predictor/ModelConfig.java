package dev.igate.predictor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * What the server reads from a HuggingFace {@code config.json}: class labels, the task, and the
 * longest sequence the model's position embeddings allow.
 *
 * @param labels              labels by class index, from {@code id2label}; empty when absent
 * @param maxPositionEmbeddings the model's limit on tokens, or 0 when unknown
 * @param problemType         {@code problem_type} (single_label_classification, multi_label_classification,
 *                            regression), or null when absent
 * @param architectures       {@code architectures}: the model classes it was exported from
 *                            ({@code BertForTokenClassification}, ...); empty when absent
 * @param entailment          the class index of the entailment label, as HuggingFace's zero-shot pipeline finds
 *                            it: the first {@code label2id} entry whose label starts with "entail" (any case),
 *                            else the first such {@code id2label} entry; -1 when there is none
 * @param crossEncoder        whether sentence-transformers saved it as a CrossEncoder (its config.json has
 *                            {@code sentence_transformers}, or {@code sbert_ce_default_activation_function} as
 *                            older versions wrote it): a model of text pairs
 */
public record ModelConfig(List<String> labels, int maxPositionEmbeddings, String problemType, List<String> architectures,
                          int entailment, boolean crossEncoder) {

    private static final JsonMapper MAPPER = JsonMapper.builder().build();

    public static final ModelConfig EMPTY = new ModelConfig(List.of(), 0, null, List.of(), -1, false);

    /**
     * Reads config.json, or returns {@link #EMPTY} when the file is absent. Blocking.
     *
     * @throws ModelLoadException when the file is not valid JSON or id2label has gaps
     */
    public static ModelConfig read(Path file) throws ModelLoadException {
        if (!Files.isRegularFile(file)) {
            return EMPTY;
        }
        JsonNode root;
        try {
            root = MAPPER.readTree(Files.readAllBytes(file));
        } catch (IOException | JacksonException e) {
            throw new ModelLoadException(file.getFileName() + " is not valid JSON", e);
        }
        Map<Integer, String> byIndex = new TreeMap<>();
        JsonNode id2label = root.get("id2label");
        if (id2label != null && id2label.isObject()) {
            for (Map.Entry<String, JsonNode> e : id2label.properties()) {
                try {
                    byIndex.put(Integer.parseInt(e.getKey().trim()), e.getValue().asString());
                } catch (NumberFormatException ex) {
                    throw new ModelLoadException("id2label key " + e.getKey() + " is not a class index");
                }
            }
        }
        List<String> labels = new ArrayList<>(byIndex.values());
        int i = 0;
        for (int index : byIndex.keySet()) {
            if (index != i++) {
                throw new ModelLoadException("id2label must number classes 0..n-1 without gaps");
            }
        }
        JsonNode mpe = root.get("max_position_embeddings");
        int max = mpe != null && mpe.canConvertToInt() ? mpe.intValue() : 0;
        JsonNode problem = root.get("problem_type");
        List<String> architectures = new ArrayList<>();
        JsonNode classes = root.get("architectures");
        if (classes != null && classes.isArray()) {
            classes.forEach(c -> {
                if (c.isString()) {
                    architectures.add(c.asString());
                }
            });
        }
        return new ModelConfig(List.copyOf(labels), max, problem != null && problem.isString() ? problem.asString() : null,
                List.copyOf(architectures), entailment(root.get("label2id"), labels),
                root.has("sentence_transformers") || root.has("sbert_ce_default_activation_function"));
    }

    /** Whether the model reads pairs of texts: an NLI model (it has an entailment label) or a cross-encoder. */
    public boolean readsPairs() {
        return entailment >= 0 || crossEncoder;
    }

    private static int entailment(JsonNode label2id, List<String> labels) {
        if (label2id != null && label2id.isObject()) {
            for (Map.Entry<String, JsonNode> e : label2id.properties()) {
                if (e.getKey().toLowerCase(java.util.Locale.ROOT).startsWith("entail") && e.getValue().canConvertToInt()
                        && e.getValue().intValue() >= 0 && e.getValue().intValue() < labels.size()) {
                    return e.getValue().intValue();
                }
            }
        }
        for (int i = 0; i < labels.size(); i++) {
            if (labels.get(i).toLowerCase(java.util.Locale.ROOT).startsWith("entail")) {
                return i;
            }
        }
        return -1;
    }
}
