package dev.igate.gateway;

import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

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
 * {@code igate.strict-readiness: false}, Triton's relaxed readiness: with one model that loads and
 * one that cannot, the server is ready once loading has finished, serves the good model, answers
 * 503 for the broken one, and reports it in health details.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"igate.strict-readiness=false", "igate.demo-models=false", "spring.cloud.gateway.server.webflux.routes="})
@AutoConfigureWebTestClient(timeout = "60s")
class RelaxedReadinessIT {

    static final Path REPOSITORY = Path.of("target", "test-models-relaxed").toAbsolutePath();

    @Autowired
    WebTestClient client;

    @DynamicPropertySource
    static void repository(DynamicPropertyRegistry registry) throws Exception {
        TinyClassifier.write(REPOSITORY.resolve("Tiny").resolve("1"), "Tanh", 1);
        Path broken = Files.createDirectories(REPOSITORY.resolve("Broken").resolve("1"));
        Files.writeString(broken.resolve("model.onnx"), "this is not an ONNX model");
        registry.add("igate.model-repository", REPOSITORY::toString);
    }

    @Test
    void readyOnceLoadingEndsWithTheFailedModelReported() {
        await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofMillis(100))
                .until(() -> client.get().uri("/v2/health/ready").exchange().expectBody().returnResult().getStatus().value() == 200);

        client.get().uri("/actuator/health/readiness").exchange().expectStatus().isOk()
                .expectBody().jsonPath("$.components.models.details.Broken.1").value(String.class,
                        reason -> org.assertj.core.api.Assertions.assertThat(reason).startsWith("FAILED: "))
                .jsonPath("$.components.models.details.Tiny.1").isEqualTo("READY");
        client.post().uri("/v1/models/Tiny:predict").contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"a short text\"]}").exchange().expectStatus().isOk();
        client.post().uri("/v1/models/Broken:predict").contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"a short text\"]}").exchange().expectStatus().isEqualTo(503);
        client.get().uri("/v2/models/Broken/ready").exchange().expectStatus().isBadRequest();
    }
}
