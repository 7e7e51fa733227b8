package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import dev.igate.demo.DemoRepository;
import org.junit.jupiter.api.Test;

/**
 * SIGTERM to a real server process with REST and gRPC requests in flight and queued: every
 * accepted request is answered, readiness goes at once, and the process exits 0.
 */
class GracefulShutdownIT {

    @Test
    void sigtermLetsAcceptedRequestsFinishAndExitsZero() throws Exception {
        DemoRepository.ensure(ServerTestSupport.DEMO_REPOSITORY);
        int port = SplitDeploymentIT.freePort();
        int grpcPort = SplitDeploymentIT.freePort();
        Path log = Files.createDirectories(Path.of("target", "graceful-shutdown")).resolve("server.log");
        Process server = new ProcessBuilder("java", "-Xmx512m", "-XX:TieredStopAtLevel=1", "-jar", SplitDeploymentIT.JAR.toString(), "--server.port=" + port,
                "--igate.model-repository=" + ServerTestSupport.DEMO_REPOSITORY, "--igate.demo-models=false", "--igate.grpc.port=" + grpcPort,
                // a serving warm-up runs (5 s of it, the drain's subject being the test's calls), so the queue's rate is
                // measured before the test's calls: with the default max-queue-wait the 96-text calls queued behind the gRPC
                // one would be refused (about 2 s of expected wait), and this test is about the drain, not admission
                "--igate.warm-up.max-duration=5s", "--igate.defaults.max-queue-wait=0s")
                .directory(SplitDeploymentIT.ROOT).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            SplitDeploymentIT.awaitReady(port);
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            String longText = String.join(" ", Collections.nCopies(150, "toxicology"));
            StringBuilder data = new StringBuilder();
            for (int i = 0; i < 96; i++) {
                data.append(i == 0 ? "" : ",").append('"').append(longText).append('"');
            }
            String slow = "{\"inputs\": [{\"name\": \"t\", \"shape\": [96], \"datatype\": \"BYTES\", \"data\": [" + data + "]}]}";
            // the gRPC call first: once it runs, the three REST calls queue behind it
            String[] texts = new String[96];
            java.util.Arrays.fill(texts, longText);
            io.grpc.ManagedChannel channel = GrpcClients.channel(grpcPort);
            com.google.common.util.concurrent.ListenableFuture<dev.igate.grpc.v2.ModelInferResponse> grpcInFlight =
                    dev.igate.grpc.v2.GRPCInferenceServiceGrpc.newFutureStub(channel).withDeadlineAfter(2, TimeUnit.MINUTES)
                            .modelInfer(GrpcIT.textRequest("1", false, null, texts));
            await().atMost(Duration.ofMinutes(1)).until(() -> metric(port, "igate_device_runs_in_flight") >= 1);
            List<CompletableFuture<HttpResponse<String>>> inFlight = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                inFlight.add(http.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                                + "/v2/models/BERTSeqClassification/versions/1/infer")).header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(slow)).build(), HttpResponse.BodyHandlers.ofString()));
            }
            // in flight: the three calls and the scrape that counts them (their uri is not known yet while they run)
            await().atMost(Duration.ofMinutes(1)).until(() -> metric(port, "http_server_requests_active_seconds_count{") >= 4);

            server.destroy();

            // readiness goes as the drain starts: the server takes no new connections while it drains
            await().atMost(Duration.ofSeconds(5)).until(() -> {
                try {
                    return SplitDeploymentIT.get(port, "/v2/health/ready").statusCode() != 200;
                } catch (java.io.IOException refused) {
                    return true;
                }
            });
            for (CompletableFuture<HttpResponse<String>> f : inFlight) {
                HttpResponse<String> r = f.get(2, TimeUnit.MINUTES);
                assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
                assertThat(r.body()).contains("\"shape\":[96]");
            }
            assertThat(grpcInFlight.get(2, TimeUnit.MINUTES).getOutputs(0).getShapeList()).containsExactly(96L);
            channel.shutdownNow();
            assertThat(server.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(server.exitValue()).isZero();
            assertThat(Files.readString(log)).contains("Commencing graceful shutdown").contains("Graceful shutdown complete");
        } finally {
            server.destroyForcibly();
        }
    }

    /** The sum of a metric's samples whose line contains every filter (0 when none), from /actuator/prometheus. */
    static double metric(int port, String name, String... filters) throws Exception {
        double sum = 0;
        for (String line : SplitDeploymentIT.get(port, "/actuator/prometheus").body().split("\n")) {
            if (line.startsWith(name) && java.util.Arrays.stream(filters).allMatch(line::contains)) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return sum;
    }
}
