package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import dev.igate.demo.TinyClassifier;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/** Load, reload and unload models through the admin API, without a restart and without failing in-flight requests. */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "igate.demo-models=false", "igate.admin-token=lifecycle-token"})
@AutoConfigureWebTestClient(timeout = "60s")
class ModelLifecycleIT {

    static final Path REPOSITORY = Path.of("target", "test-models-lifecycle").toAbsolutePath();

    @Autowired
    WebTestClient client;

    @DynamicPropertySource
    static void repository(DynamicPropertyRegistry registry) throws Exception {
        if (Files.exists(REPOSITORY)) {
            try (Stream<Path> walk = Files.walk(REPOSITORY)) {
                for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
        TinyClassifier.write(REPOSITORY.resolve("Tiny").resolve("1"), "Tanh", 1);
        registry.add("igate.model-repository", REPOSITORY::toString);
    }

    WebTestClient.ResponseSpec admin(String path) {
        return client.post().uri(path).header("Authorization", "Bearer lifecycle-token").exchange();
    }

    WebTestClient.ResponseSpec predict(String model) {
        return client.post().uri("/v1/models/{m}:predict", model).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"a short text\"]}").exchange();
    }

    @Test
    void aModelAddedToTheRepositoryIsLoadedWithoutARestart() throws Exception {
        ServerTestSupport.awaitReady(client, "/v2/models/Tiny/ready");
        predict("Fresh").expectStatus().isNotFound();
        TinyClassifier.write(REPOSITORY.resolve("Fresh").resolve("1"), "Sigmoid", 2);

        admin("/admin/models/Fresh/load").expectStatus().isOk().expectBody().jsonPath("$.Fresh.1").isEqualTo("READY");

        predict("Fresh").expectStatus().isOk().expectBody().jsonPath("$.predictions[0]").exists();
        admin("/admin/models/Missing/load").expectStatus().isNotFound();
    }

    @Test
    void reloadingUnderLoadFailsNoRequest() throws Exception {
        ServerTestSupport.awaitReady(client, "/v2/models/Tiny/ready");
        Mono<List<Integer>> load = Flux.range(0, 300)
                .flatMap(i -> Mono.fromCallable(() -> predict("Tiny").returnResult(String.class).getStatus().value())
                        .subscribeOn(Schedulers.boundedElastic()), 8)
                .collectList();
        var statuses = load.toFuture();

        Thread.sleep(100);
        admin("/admin/models/Tiny/load").expectStatus().isOk().expectBody().jsonPath("$.Tiny.1").isEqualTo("READY");

        assertThat(statuses.get()).hasSize(300).containsOnly(200);
    }

    @Test
    void anUnloadedModelAnswers404AndTheOthersKeepServing() throws Exception {
        TinyClassifier.write(REPOSITORY.resolve("Doomed").resolve("1"), "Tanh", 3);
        admin("/admin/models/Doomed/load").expectStatus().isOk();
        predict("Doomed").expectStatus().isOk();

        admin("/admin/models/Doomed/unload").expectStatus().isOk();

        predict("Doomed").expectStatus().isNotFound();
        client.get().uri("/v2/models/Doomed/ready").exchange().expectStatus().isNotFound();
        ServerTestSupport.awaitReady(client, "/v2/models/Tiny/ready");
        predict("Tiny").expectStatus().isOk();
        admin("/admin/models/Doomed/unload").expectStatus().isNotFound();
    }

    @Test
    void lifecycleCallsNeedTheToken() {
        client.post().uri("/admin/models/Tiny/unload").exchange().expectStatus().isUnauthorized();
        client.post().uri("/admin/models/Tiny/load").header("Authorization", "Bearer nope").exchange().expectStatus().isUnauthorized();
    }
}
