package dev.igate.gateway.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import dev.igate.demo.TinyClassifier;
import dev.igate.protocol.LoadFailedException;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The repository poller and the registry it drives, on real tiny models, one poll at a time (the
 * poller's timer is not started: each test calls {@link RepositoryPoller#poll()} itself).
 */
class RepositoryPollerTests {

    @TempDir
    Path folder;

    RegistryHarness harness;
    SimpleMeterRegistry meters;
    ModelRegistry registry;
    RepositoryPoller poller;

    @AfterEach
    void stop() {
        if (harness != null) {
            harness.close();
        }
    }

    Path repository() {
        return folder.resolve("models");
    }

    /** A registry that has started and finished its start-up load, and a poller over it (not started). */
    void start(Map<String, String> settings) {
        harness = new RegistryHarness(folder);
        meters = harness.meters;
        registry = harness.start(settings);
        poller = new RepositoryPoller(registry, harness.properties);
    }

    boolean serves(String model, String version) {
        return harness.serves(model, version);
    }

    /** Two polls: a change is acted on once two polls in a row see the same files. */
    void settle() {
        poller.poll();
        poller.poll();
    }

    @Test
    void aChangeMadeBeforeTheFirstPollIsLoadedWithoutAnotherChange() throws Exception {
        TinyClassifier.write(repository().resolve("Polled").resolve("1"), "Tanh", 1);
        start(Map.of());
        assertThat(serves("Polled", "1")).isTrue();

        // a version lands after the start-up load read the folder, before any poll
        TinyClassifier.write(repository().resolve("Polled").resolve("2"), "Tanh", 2);
        settle();

        assertThat(serves("Polled", "2")).isTrue();
        assertThat(registry.defaultVersion("Polled")).isEqualTo("2");
    }

    @Test
    void noPollRunsBeforeTheStartUpLoadHasTriedEveryModel() throws Exception {
        TinyClassifier.write(repository().resolve("Early").resolve("1"), "Tanh", 1);
        harness = new RegistryHarness(folder);
        registry = harness.create(Map.of());
        poller = new RepositoryPoller(registry, harness.properties);

        // the registry's start-up load has not run: a poll now would load what it is about to load
        poller.poll();

        assertThat(registry.modelNames()).isEmpty();
        assertThat(registry.loadedFingerprint("Early")).isNull();
    }

    @Test
    void aModelTheOperatorUnloadedStaysUnloadedUntilAnExplicitLoad() throws Exception {
        TinyClassifier.write(repository().resolve("Held").resolve("1"), "Tanh", 1);
        start(Map.of());

        registry.unload("Held");
        settle();
        TinyClassifier.write(repository().resolve("Held").resolve("2"), "Tanh", 2);
        settle();
        assertThat(registry.modelNames()).doesNotContain("Held");

        registry.reload("Held");
        assertThat(serves("Held", "2")).isTrue();
        // a later change is polled again
        TinyClassifier.write(repository().resolve("Held").resolve("3"), "Tanh", 3);
        settle();
        assertThat(serves("Held", "3")).isTrue();
    }

    @Test
    void aNewVersionOnALinkedVolumeIsLoaded() throws Exception {
        // given: the model's folder links to a volume (a PVC mount, a file:// storage URI)
        Path volume = folder.resolve("volume");
        TinyClassifier.write(volume.resolve("1"), "Tanh", 1);
        Files.createDirectories(repository());
        Files.createSymbolicLink(repository().resolve("Linked"), volume);
        start(Map.of());
        assertThat(serves("Linked", "1")).isTrue();

        // when: a version is added on the volume
        TinyClassifier.write(volume.resolve("2"), "Tanh", 2);
        settle();

        // then: it serves
        assertThat(serves("Linked", "2")).isTrue();
    }

    double gauge(String name, String model, String version) {
        Gauge g = meters.find(name).tags("model_name", model, "model_version", version).gauge();
        return g == null ? Double.NaN : g.value();
    }

    @Test
    void aVersionThePolicyDropsLeavesTheGaugesAndTheStatistics() throws Exception {
        TinyClassifier.write(repository().resolve("Latest").resolve("1"), "Tanh", 1);
        start(Map.of("igate.models.Latest.version-policy", "latest:1"));
        assertThat(meters.find("igate.queue.depth").tags("model_name", "Latest", "model_version", "1").gauge()).isNotNull();

        TinyClassifier.write(repository().resolve("Latest").resolve("2"), "Tanh", 2);
        settle();

        assertThat(serves("Latest", "2")).isTrue();
        assertThat(registry.knows("Latest", "1")).isFalse();
        assertThat(meters.find("igate.queue.depth").tags("model_name", "Latest", "model_version", "1").gauge()).isNull();
        assertThat(meters.find("igate.model.in.flight").tags("model_name", "Latest", "model_version", "1").gauge()).isNull();
        assertThat(registry.statistics(null, null)).extracting(s -> s.name() + "/" + s.version()).containsExactly("Latest/2");
    }

    @Test
    void aSameNumberReloadWhoseWarmUpFailsLeavesTheServingCopysGaugesAndStatistics() throws Exception {
        Path version = repository().resolve("Same").resolve("1");
        TinyClassifier.write(version, "Tanh", 1);
        start(Map.of());
        ServedModel serving = registry.resolve("Same", "1");

        // new files under the same version number whose warm-up fails (two labels for three logits)
        Files.writeString(version.resolve("config.json"), "{\"id2label\": {\"0\": \"a\", \"1\": \"b\"}}");
        assertThatThrownBy(() -> registry.reload("Same")).isInstanceOf(LoadFailedException.class)
                .hasMessageContaining("version 1 FAILED").hasMessageContaining("keep serving");

        // the copy that serves still feeds the statistics and the scaling signals
        assertThat(registry.resolve("Same", "1")).isSameAs(serving);
        assertThat(registry.statisticsOf("Same", "1")).isSameAs(serving.statistics().orElseThrow());
        try (ServedModel.Lease work = serving.lease()) {
            assertThat(gauge("igate.model.in.flight", "Same", "1")).isEqualTo(1.0);
        }
    }

    @Test
    void anExplicitLoadWithAFailedVersionAnswersWhyAndKeepsWhatLoaded() throws Exception {
        TinyClassifier.write(repository().resolve("Mixed").resolve("1"), "Tanh", 1);
        start(Map.of());
        Path broken = Files.createDirectories(repository().resolve("Mixed").resolve("2"));
        for (String file : List.of("tokenizer.json", "config.json")) {
            Files.copy(repository().resolve("Mixed").resolve("1").resolve(file), broken.resolve(file));
        }
        Files.writeString(broken.resolve("model.onnx"), "half a model");

        assertThatThrownBy(() -> registry.reload("Mixed")).isInstanceOf(LoadFailedException.class)
                .hasMessageContaining("version 2 FAILED");
        assertThat(serves("Mixed", "1")).isTrue();
    }

    static void corrupt(Path from, Path version) throws Exception {
        Files.createDirectories(version);
        for (String file : List.of("tokenizer.json", "config.json")) {
            Files.copy(from.resolve(file), version.resolve(file));
        }
        Files.writeString(version.resolve("model.onnx"), "half a model");
    }

    @Test
    void aCorruptVersionPickedUpByPollingLeavesTheServerReady() throws Exception {
        TinyClassifier.write(repository().resolve("Served").resolve("1"), "Tanh", 1);
        start(Map.of());
        assertThat(registry.serverReady()).isTrue();

        corrupt(repository().resolve("Served").resolve("1"), repository().resolve("Served").resolve("2"));
        settle();

        // version 2 is reported failed, version 1 serves: what the server can serve is unchanged
        assertThat(registry.state("Served", "2").status()).isEqualTo(VersionState.Status.FAILED);
        assertThat(registry.describe().toString()).contains("FAILED");
        assertThat(registry.serverReady()).isTrue();
    }

    @Test
    void atStartANewestVersionThatFailsLeavesThePreviousServingAndTheServerReady() throws Exception {
        TinyClassifier.write(repository().resolve("Two").resolve("1"), "Tanh", 1);
        corrupt(repository().resolve("Two").resolve("1"), repository().resolve("Two").resolve("2"));
        start(Map.of());

        assertThat(registry.defaultVersion("Two")).isEqualTo("1");
        assertThat(registry.serverReady()).isTrue();
    }

    @Test
    void aModelNoneOfWhoseVersionsLoadedKeepsTheServerUnready() throws Exception {
        TinyClassifier.write(repository().resolve("Good").resolve("1"), "Tanh", 1);
        corrupt(repository().resolve("Good").resolve("1"), repository().resolve("Bad").resolve("1"));
        start(Map.of());

        assertThat(serves("Good", "1")).isTrue();
        assertThat(registry.serverReady()).isFalse();
    }

    @Test
    void aVersionStillBeingCopiedInIsLoadedOnceItsFilesHoldStill() throws Exception {
        TinyClassifier.write(repository().resolve("Copied").resolve("1"), "Tanh", 1);
        start(Map.of());
        Path incoming = Files.createDirectories(repository().resolve("Copied").resolve("2"));

        // the model file has landed, its tokenizer and labels not yet
        Files.copy(repository().resolve("Copied").resolve("1").resolve("model.onnx"), incoming.resolve("model.onnx"));
        poller.poll();
        for (String file : List.of("tokenizer.json", "config.json")) {
            Files.copy(repository().resolve("Copied").resolve("1").resolve(file), incoming.resolve(file));
        }
        poller.poll();
        assertThat(registry.knows("Copied", "2")).as("not loaded while its files were still coming").isFalse();

        // a poll later the files held still: loaded whole, as a text classifier
        poller.poll();
        assertThat(serves("Copied", "2")).isTrue();
        assertThat(registry.resolve("Copied", "2").acceptsText()).isTrue();
    }
}
