package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.igate.demo.DemoRepository;
import dev.igate.demo.TinyClassifier;

/**
 * A load that runs out of Java heap: the packaged jar started with {@code -Xmx128m} and a
 * repository holding the demo classifier set to int8 (quantizing it at load takes about 320 MB of
 * heap) beside a tiny classifier loaded after it by the same loader thread. Each of the big model's
 * versions fails with the reason, the tiny one loads and serves, and the process goes on serving
 * through loads of the big one that fail again.
 */
class OutOfMemoryLoadIT {

    static final Path WORK = Path.of("target", "out-of-memory").toAbsolutePath();
    static final String ADMIN = "Bearer oom-token";
    static int port;
    static Process server;

    @BeforeAll
    static void start() throws Exception {
        ServerTestSupport.deleteTree(WORK);
        Path repository = Files.createDirectories(WORK.resolve("repository"));
        DemoRepository.ensure(ServerTestSupport.DEMO_REPOSITORY);
        Files.createSymbolicLink(repository.resolve("Big"), ServerTestSupport.DEMO_REPOSITORY.resolve(ServerTestSupport.MODEL));
        TinyClassifier.write(repository.resolve("Tiny").resolve("1"), "Tanh", 3);
        port = SplitDeploymentIT.freePort();
        server = new ProcessBuilder("java", "-XX:+UseSerialGC", "-Xmx128m", "-jar", SplitDeploymentIT.JAR.toString(),
                "--server.port=" + port, "--igate.grpc.port=0", "--igate.model-repository=" + repository,
                "--igate.demo-models=false", "--igate.storage-cache=" + WORK.resolve("cache"), "--igate.warm-up.max-duration=0s",
                "--igate.admin-token=oom-token", "--igate.models.Big.quantize=int8")
                .directory(SplitDeploymentIT.ROOT).redirectErrorStream(true).redirectOutput(WORK.resolve("server.log").toFile()).start();
    }

    @AfterAll
    static void stop() throws InterruptedException {
        if (server != null) {
            server.destroy();
            server.waitFor();
        }
    }

    static String state(String path) throws Exception {
        return SplitDeploymentIT.get(port, path).body();
    }

    @Test
    void aLoadThatRunsOutOfHeapFailsWithTheReasonAndTheLoaderAndServerGoOn() throws Exception {
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(250)).ignoreExceptions()
                .until(() -> state("/v2/models/Tiny/ready").contains("\"ready\":true"));

        // both versions failed with the reason, and the loader thread went on to the tiny model after them
        for (String version : List.of("1", "2")) {
            assertThat(state("/v2/models/Big/versions/" + version + "/ready")).contains("\"ready\":false")
                    .contains("Java ran out of memory while loading it and quantizing it").contains("give the server a larger -Xmx");
        }
        String log = Files.readString(WORK.resolve("server.log"));
        assertThat(log.indexOf("Model Tiny version 1 ready")).isGreaterThan(log.lastIndexOf("Model Big version"));

        for (int attempt = 0; attempt < 3; attempt++) {
            // an operator's load of the big model fails again, with the same reason, and costs the server nothing
            HttpResponse<String> load = SplitDeploymentIT.http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                            + "/v2/repository/models/Big/load")).header("Authorization", ADMIN).timeout(Duration.ofMinutes(2))
                    .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(load.statusCode()).as(load.body()).isBetween(400, 599);
            assertThat(load.body()).contains("ran out of memory");

            HttpResponse<String> big = SplitDeploymentIT.post(port, "/v1/models/Big:predict", "{\"instances\": [\"a short text\"]}");
            assertThat(big.statusCode()).isEqualTo(503);
            assertThat(big.body()).contains("Model Big failed to load: Java ran out of memory");
            HttpResponse<String> tiny = SplitDeploymentIT.post(port, "/v1/models/Tiny:predict", "{\"instances\": [\"a short text\"]}");
            assertThat(tiny.statusCode()).as(tiny.body()).isEqualTo(200);
            assertThat(tiny.body()).contains("\"predictions\"");
        }
        assertThat(SplitDeploymentIT.get(port, "/v2/health/live").statusCode()).isEqualTo(200);
        assertThat(server.isAlive()).isTrue();
    }
}
