package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import dev.igate.demo.DemoRepository;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * An admin reload that arrives while the server is still loading its models at start-up (two
 * copies of the demo model load before it): the two take turns, so exactly one copy of each version serves and
 * none is left running unseen (each loaded version has its batcher threads: a leaked copy would
 * leave its own).
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "igate.demo-models=false", "igate.admin-token=startup-token", "igate.defaults.instances=2"})
@AutoConfigureWebTestClient(timeout = "120s")
class ReloadDuringStartupIT {

    static final Path REPOSITORY = Path.of("target", "test-models-startup").toAbsolutePath();

    /** Batcher threads of the demo model's versions in other test contexts of this JVM, before this one starts. */
    static long othersV1;
    static long othersV2;

    @Autowired
    WebTestClient client;

    @DynamicPropertySource
    static void repository(DynamicPropertyRegistry registry) throws Exception {
        othersV1 = batcherThreads("1");
        othersV2 = batcherThreads("2");
        DemoRepository.ensure(ServerTestSupport.DEMO_REPOSITORY);
        Files.createDirectories(REPOSITORY);
        // two copies load first (models load in name order), so the demo model's own load starts seconds in
        for (String name : new String[] {"AFirstCopy", "ASecondCopy", ServerTestSupport.MODEL}) {
            Path link = REPOSITORY.resolve(name);
            if (!Files.exists(link)) {
                Files.createSymbolicLink(link, ServerTestSupport.DEMO_REPOSITORY.resolve(ServerTestSupport.MODEL));
            }
        }
        registry.add("igate.model-repository", REPOSITORY::toString);
    }

    static long batcherThreads(String version) {
        String prefix = "batch-" + ServerTestSupport.MODEL + "-v" + version + "-";
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.isAlive() && t.getName().startsWith(prefix)).count();
    }

    @Test
    void aReloadDuringTheStartUpLoadLeavesOneCopyOfEachVersion() {
        // when: the reload comes at once, while the start-up load is (most likely) still running
        client.post().uri("/admin/models/{m}/load", ServerTestSupport.MODEL).header("Authorization", "Bearer startup-token")
                .exchange().expectStatus().isOk();

        // then: the server becomes ready and serves, with one copy of each version (two instances each)
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(100))
                .until(() -> client.get().uri("/v2/health/ready").exchange().expectBody().returnResult().getStatus().value() == 200);
        client.post().uri("/v2/models/{m}/infer", ServerTestSupport.MODEL).bodyValue(ServerTestSupport.SEED).exchange()
                .expectStatus().isOk();
        assertThat(batcherThreads("1") - othersV1).isEqualTo(2);
        assertThat(batcherThreads("2") - othersV2).isEqualTo(2);
    }
}
