package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import dev.igate.demo.TinyClassifier;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * Version pickup by polling the local repository: a new version folder serves once loaded and
 * warmed up, with no failed request during the switch under concurrency-16 load; a corrupt new
 * version never replaces the good one.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "igate.demo-models=false", "igate.repository-poll-interval=300ms", "spring.cloud.gateway.server.webflux.routes=",
        "igate.models.Latest.version-policy=latest:1"})
@AutoConfigureWebTestClient(timeout = "60s")
class RepositoryPollingIT {

    static final Path REPOSITORY = Path.of("target", "test-models-polling").toAbsolutePath();

    @Autowired
    WebTestClient client;

    @DynamicPropertySource
    static void repository(DynamicPropertyRegistry registry) throws Exception {
        ServerTestSupport.deleteTree(REPOSITORY);
        TinyClassifier.write(REPOSITORY.resolve("Polled").resolve("1"), "Tanh", 1);
        TinyClassifier.write(REPOSITORY.resolve("Latest").resolve("1"), "Tanh", 1);
        registry.add("igate.model-repository", REPOSITORY::toString);
    }

    /** igate_model_reload_failures_total of a model, 0 before the first. */
    double reloadFailures(String model) {
        return ServerTestSupport.modelCounter(client, "igate_model_reload_failures_total", model);
    }

    @Test
    void withLatestOneOnlyTheNewestServesAndACorruptNewestLeavesThePreviousServing() throws Exception {
        ServerTestSupport.awaitReady(client, "/v2/models/Latest/ready");
        TinyClassifier.write(REPOSITORY.resolve("Latest").resolve("2"), "Sigmoid", 2);
        await().atMost(Duration.ofSeconds(60)).until(() -> client.get().uri("/v2/models/Latest/versions/2/ready").exchange()
                .expectBody().returnResult().getStatus().value() == 200);
        // version 1 left the policy: unloaded
        await().atMost(Duration.ofSeconds(30)).until(() -> client.get().uri("/v2/models/Latest/versions/1/ready").exchange()
                .expectBody().returnResult().getStatus().value() == 400);

        double failuresBefore = reloadFailures("Latest");
        Path broken = Files.createDirectories(REPOSITORY.resolve("Latest").resolve("3"));
        Files.copy(REPOSITORY.resolve("Latest").resolve("2").resolve("tokenizer.json"), broken.resolve("tokenizer.json"));
        Files.copy(REPOSITORY.resolve("Latest").resolve("2").resolve("config.json"), broken.resolve("config.json"));
        Files.writeString(broken.resolve("model.onnx"), "half a model");
        // the poll tried version 3 and kept version 2: counted
        await().atMost(Duration.ofSeconds(30)).until(() -> reloadFailures("Latest") > failuresBefore);

        // a few polls later version 2 still answers
        for (int i = 0; i < 20; i++) {
            client.post().uri("/v1/models/Latest:predict").contentType(MediaType.APPLICATION_JSON)
                    .bodyValue("{\"instances\": [\"a short text\"]}").exchange().expectStatus().isOk()
                    .expectHeader().valueEquals("X-Model-Version", "2");
        }
    }

    @Test
    void aNewVersionServesAfterItsLoadWithoutAFailedRequestAndACorruptOneNeverReplacesIt() throws Exception {
        ServerTestSupport.awaitReady(client, "/v2/models/Polled/ready");
        ServerTestSupport.Load load = ServerTestSupport.predictLoad(client, "Polled", 16);
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> load.versions().size() > 50);

            // a new version appears in the repository
            TinyClassifier.write(REPOSITORY.resolve("Polled").resolve("2"), "Sigmoid", 2);
            await().atMost(Duration.ofSeconds(60)).until(() -> load.versions().size() > 0
                    && "2".equals(load.versions().get(load.versions().size() - 1)));
            int afterSwitch = load.versions().size();

            // a corrupt one after it: version 2 keeps serving
            Path broken = Files.createDirectories(REPOSITORY.resolve("Polled").resolve("3"));
            Files.copy(REPOSITORY.resolve("Polled").resolve("2").resolve("tokenizer.json"), broken.resolve("tokenizer.json"));
            Files.copy(REPOSITORY.resolve("Polled").resolve("2").resolve("config.json"), broken.resolve("config.json"));
            Files.writeString(broken.resolve("model.onnx"), "half a model");
            await().atMost(Duration.ofSeconds(60)).until(() -> {
                String ready = client.get().uri("/v2/models/Polled/versions/3/ready").exchange().expectBody(String.class)
                        .returnResult().getResponseBody();
                // failed: known, not ready, not loading
                return ready.contains("\"ready\":false") && !ready.contains("has no version") && !ready.contains("is loading");
            });
            await().atMost(Duration.ofSeconds(30)).until(() -> load.versions().size() > afterSwitch + 200);
        } finally {
            load.running().set(false);
        }

        assertThat(load.failures()).as("requests that failed during the switches").isEmpty();
        // a copy: the load's threads may still add the answer they were waiting for
        List<String> versions = List.copyOf(load.versions());
        List<String> last = versions.subList(versions.size() - 100, versions.size());
        assertThat(last).containsOnly("2");
        client.get().uri("/v2/models/Polled/versions/3/ready").exchange().expectStatus().isBadRequest();
    }
}
