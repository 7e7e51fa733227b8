package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import dev.igate.demo.DemoRepository;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Gateway, transformer and predictor as three JVMs on loopback ports, started from the packaged
 * jar with the profiles the README documents: the seed request goes gateway → transformer
 * (tokenizer) → predictor (ONNX Runtime) and back; a canary whose process is down gets no
 * share; a stage that goes down answers 503 quickly.
 */
@org.junit.jupiter.api.TestMethodOrder(org.junit.jupiter.api.MethodOrderer.MethodName.class)
class SplitDeploymentIT {

    static final Path JAR = Path.of("target", "igate.jar").toAbsolutePath();
    static final File ROOT = new File("..").getAbsoluteFile();
    static final List<Process> processes = new ArrayList<>();
    static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    static int predictor;
    static int transformer;
    static int gateway;
    static int deadCanary;
    static Process predictorProcess;
    static Process transformerProcess;

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    static Process start(String profile, Path log, String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of("java", "-Xmx512m", "-jar", JAR.toString(),
                "--spring.profiles.active=" + profile, "--igate.model-repository=" + ServerTestSupport.DEMO_REPOSITORY,
                "--igate.grpc.port=0"));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).directory(ROOT).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        processes.add(p);
        return p;
    }

    @BeforeAll
    static void startAll() throws Exception {
        DemoRepository.ensure(ServerTestSupport.DEMO_REPOSITORY);
        predictor = freePort();
        transformer = freePort();
        gateway = freePort();
        deadCanary = freePort();
        Path logs = Files.createDirectories(Path.of("target", "split-deployment"));
        predictorProcess = start("predictor", logs.resolve("predictor.log"), "--server.port=" + predictor);
        transformerProcess = start("transformer", logs.resolve("transformer.log"), "--server.port=" + transformer,
                "--igate.predictor-url=http://127.0.0.1:" + predictor);
        start("gateway", logs.resolve("gateway.log"), "--server.port=" + gateway,
                "--igate.model-repository=" + logs.resolve("no-models").toAbsolutePath(),
                "--TRANSFORMER_URL=http://127.0.0.1:" + transformer, "--PREDICTOR_URL=http://127.0.0.1:" + predictor,
                "--CANARY_URL=http://127.0.0.1:" + deadCanary, "--CANARY_STABLE_WEIGHT=50", "--CANARY_WEIGHT=50");
        for (int port : new int[] {predictor, transformer, gateway}) {
            awaitReady(port);
        }
    }

    @AfterAll
    static void stopAll() {
        processes.forEach(Process::destroy);
        for (Process p : processes) {
            try {
                p.waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    static void awaitReady(int port) throws Exception {
        long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
        while (System.nanoTime() < deadline) {
            try {
                if (get(port, "/v2/health/ready").statusCode() == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // still starting
            }
            Thread.sleep(250);
        }
        throw new AssertionError("process on port " + port + " never became ready");
    }

    static HttpResponse<String> get(int port, String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> post(int port, String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void seedRequestTravelsGatewayTransformerPredictorAndBackWhileTheDeadCanaryGetsNoShare() throws Exception {
        // the gateway's health check marks the dead canary down within a few seconds
        Thread.sleep(3000);
        for (int i = 0; i < 10; i++) {
            HttpResponse<String> r = post(gateway, "/v2/models/BERTSeqClassification/infer", ServerTestSupport.SEED);
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(r.body()).contains("\"id\":\"d3b15cad-50a2-4eaf-80ce-8b0a428bd298\"").contains("\"data\":[\"Pharma-Toxico\"]")
                    .contains("\"model_version\":\"1\"");
            assertThat(r.headers().firstValue("X-Revision")).hasValue("stable");
        }
        HttpResponse<String> v1 = post(gateway, "/v1/models/BERTSeqClassification:predict",
                "{\"instances\": [\"" + ServerTestSupport.SEED_TEXT + "\"]}");
        assertThat(v1.body()).isEqualTo("{\"predictions\":[\"Pharma-Toxico\"]}");
        HttpResponse<String> metadata = get(transformer, "/v2/models/BERTSeqClassification");
        assertThat(metadata.body()).contains("\"platform\":\"igate_transformer\"").contains("\"predictor\":\"http://127.0.0.1:" + predictor);
    }

    @Test
    void explanationsAreRoutedToTheProcessThatHoldsTheModel() throws Exception {
        HttpResponse<String> r = post(gateway, "/v1/models/BERTSeqClassification:explain",
                "{\"instances\": [\"" + ServerTestSupport.SEED_TEXT + "\"], \"parameters\": {\"n_steps\": 8}}");

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.body()).contains("\"explanations\"").contains("\"target\":\"Pharma-Toxico\"");
    }

    @Test
    void zzzStagesThatGoDownAnswer503Quickly() throws Exception {
        predictorProcess.destroy();
        predictorProcess.waitFor();

        HttpResponse<String> noPredictor = post(gateway, "/v2/models/BERTSeqClassification/infer", ServerTestSupport.SEED);
        assertThat(noPredictor.statusCode()).isEqualTo(503);
        assertThat(noPredictor.body()).contains("\"error\":\"Remote predictor http://127.0.0.1:" + predictor + " is unavailable");

        transformerProcess.destroy();
        transformerProcess.waitFor();
        HttpResponse<String> noTransformer = post(gateway, "/v2/models/BERTSeqClassification/infer", ServerTestSupport.SEED);
        assertThat(noTransformer.statusCode()).isEqualTo(503);
        assertThat(noTransformer.body()).contains("\"error\":");
    }
}
