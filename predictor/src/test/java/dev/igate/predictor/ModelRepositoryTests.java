package dev.igate.predictor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;

import dev.igate.protocol.ModelNotFoundException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelRepositoryTests {

    @TempDir
    Path root;

    void version(String model, String version) throws Exception {
        Path dir = Files.createDirectories(root.resolve(model).resolve(version));
        Files.write(dir.resolve(ModelRepository.MODEL_FILE), new byte[] {0});
    }

    @Test
    void modelsAndVersionsAreListedInOrder() throws Exception {
        version("b", "10");
        version("b", "2");
        version("a", "1");
        Files.createDirectories(root.resolve("empty/1"));
        Files.createDirectories(root.resolve("b/notes"));

        ModelRepository repo = new ModelRepository(root);

        assertThat(repo.modelNames()).containsExactly("a", "b");
        assertThat(repo.versions("b")).containsExactly("2", "10");
    }

    @Test
    void aLinkedModelFolderIsFingerprintedThroughTheLinkAndANewVersionChangesIt(@TempDir Path volume) throws Exception {
        // given: the model's folder is a link to a volume, as a PVC or file:// storage URI puts it in the repository
        Path model = Files.createDirectories(volume.resolve("1"));
        Files.write(model.resolve(ModelRepository.MODEL_FILE), new byte[] {0});
        Files.createSymbolicLink(root.resolve("linked"), volume);
        ModelRepository repo = new ModelRepository(root);
        String before = repo.fingerprint("linked");

        // when: a new version lands on the volume
        Path next = Files.createDirectories(volume.resolve("2"));
        Files.write(next.resolve(ModelRepository.MODEL_FILE), new byte[] {0, 1});

        // then: the fingerprint names the files behind the link, and it changed
        assertThat(before).contains("1/model.onnx");
        assertThat(repo.fingerprint("linked")).contains("2/model.onnx").isNotEqualTo(before);
        assertThat(repo.fingerprint("linked")).isEqualTo(repo.fingerprint("linked"));
    }

    @Test
    void namesThatCouldEscapeTheRootAreRejected() {
        ModelRepository repo = new ModelRepository(root);

        for (String name : new String[] {"..", "../etc", "a/../../b", "/etc", "a\\b", ".hidden", "%2e%2e", ""}) {
            assertThatThrownBy(() -> repo.modelDir(name)).as(name).isInstanceOf(ModelNotFoundException.class);
        }
        assertThatThrownBy(() -> repo.versionDir("a", "../1")).isInstanceOf(ModelNotFoundException.class);
        assertThatThrownBy(() -> repo.versionDir("a", "1.0")).isInstanceOf(ModelNotFoundException.class);
        assertThat(repo.versionDir("a", "1")).isEqualTo(root.toAbsolutePath().normalize().resolve("a/1"));
    }

    @Test
    void configReadsLabelsInClassOrder() throws Exception {
        Path file = root.resolve("config.json");
        Files.writeString(file, "{\"id2label\": {\"1\": \"POSITIVE\", \"0\": \"NEGATIVE\"}, \"max_position_embeddings\": 512,"
                + " \"architectures\": [\"BertForSequenceClassification\"]}");

        ModelConfig config = ModelConfig.read(file);

        assertThat(config.labels()).containsExactly("NEGATIVE", "POSITIVE");
        assertThat(config.maxPositionEmbeddings()).isEqualTo(512);
        assertThat(config.architectures()).containsExactly("BertForSequenceClassification");
        assertThat(config.problemType()).isNull();
    }

    @Test
    void configWithGapsInId2labelIsRejected() throws Exception {
        Path file = root.resolve("config.json");
        Files.writeString(file, "{\"id2label\": {\"0\": \"A\", \"2\": \"C\"}}");

        assertThatThrownBy(() -> ModelConfig.read(file)).isInstanceOf(ModelLoadException.class).hasMessageContaining("gaps");
    }
}
