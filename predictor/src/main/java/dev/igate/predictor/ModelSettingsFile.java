package dev.igate.predictor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Per-model settings kept in the repository, {@code <model>/model-settings.json} (the file name
 * MLServer uses): values the model's author knows best. application.yml overrides each of them.
 *
 * <pre>{"max_length": 128, "default_version": "1", "description": "...", "task": "token_classification",
 *  "aggregation_strategy": "first", "pairs": true}</pre>
 *
 * @param maxLength      longest token sequence the tokenizer produces, or null
 * @param defaultVersion version that answers unversioned requests, or null
 * @param description    free text shown in metadata, or null
 * @param task           the model's task (as {@code igate.models.<name>.task}), or null
 * @param aggregationStrategy a token classifier's default aggregation strategy, or null
 * @param pairs          whether the model reads pairs of texts, or null to tell from its config.json
 */
public record ModelSettingsFile(Integer maxLength, String defaultVersion, String description, String task,
                                String aggregationStrategy, Boolean pairs) {

    private static final JsonMapper MAPPER = JsonMapper.builder().build();

    public static final ModelSettingsFile EMPTY = new ModelSettingsFile(null, null, null, null, null, null);

    /**
     * Reads the file, or returns {@link #EMPTY} when it is absent. Blocking.
     *
     * @throws ModelLoadException when the file is not valid JSON or has values of the wrong type
     */
    public static ModelSettingsFile read(Path file) throws ModelLoadException {
        if (!Files.isRegularFile(file)) {
            return EMPTY;
        }
        try {
            JsonNode root = MAPPER.readTree(Files.readAllBytes(file));
            JsonNode max = root.get("max_length");
            if (max != null && !max.canConvertToInt()) {
                throw new ModelLoadException(file.getFileName() + ": max_length must be an integer");
            }
            JsonNode version = root.get("default_version");
            JsonNode description = root.get("description");
            JsonNode pairs = root.get("pairs");
            if (pairs != null && !pairs.isBoolean()) {
                throw new ModelLoadException(file.getFileName() + ": pairs must be true or false");
            }
            return new ModelSettingsFile(max == null ? null : max.intValue(),
                    version == null ? null : version.asString(),
                    description == null ? null : description.asString(),
                    text(root, "task"), text(root, "aggregation_strategy"), pairs == null ? null : pairs.booleanValue());
        } catch (IOException | JacksonException e) {
            throw new ModelLoadException(file.getFileName() + " is not valid JSON", e);
        }
    }

    private static String text(JsonNode root, String key) {
        JsonNode value = root.get(key);
        return value == null || value.isNull() ? null : value.asString();
    }
}
