package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.EntityExchangeResult;
import org.springframework.test.web.reactive.server.WebTestClient;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * Batching off (max-batch-size 1), one instance, a queue of 4 and a 500 ms queue timeout: overload answers
 * fast 503s with Retry-After, every request gets exactly one answer, queued requests time out
 * or are cancelled without running, and answers equal the batched server's.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "igate.models.BERTSeqClassification.max-batch-size=1",
        "igate.models.BERTSeqClassification.queue-capacity=4",
        "igate.models.BERTSeqClassification.timeout=500ms",
        "igate.models.BERTSeqClassification.instances=1"})
class QueueLimitsIT extends ServerTestSupport {

    @LocalServerPort
    int port;

    String metrics() {
        return client.get().uri("/actuator/prometheus").exchange().expectBody(String.class).returnResult().getResponseBody();
    }

    /** A 256-text, 128-token request: one job over the row limit, so it runs alone, for seconds on 2 cores. */
    CompletableFuture<Integer> occupyTheModel() {
        String text = String.join(" ", Collections.nCopies(150, "toxicology"));
        StringBuilder data = new StringBuilder();
        for (int i = 0; i < 256; i++) {
            data.append(i == 0 ? "" : ",").append('"').append(text).append('"');
        }
        String body = "{\"inputs\": [{\"name\": \"t\", \"shape\": [256], \"datatype\": \"BYTES\", \"data\": [" + data + "]}]}";
        CompletableFuture<Integer> done = Mono.fromCallable(() -> client.post().uri("/v2/models/{m}/infer", MODEL)
                        .contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange().expectBody().returnResult().getStatus().value())
                .subscribeOn(Schedulers.boundedElastic()).toFuture();
        // running: the device holds its run (or, on a fast machine, it has already answered)
        await().atMost(Duration.ofSeconds(30))
                .until(() -> done.isDone() || metrics().matches("(?s).*igate_device_runs_in_flight\\{[^}]*} [1-9].*"));
        return done;
    }

    @Test
    void batchingOffGivesTheSameAnswersOneRunPerRow() {
        String before = metrics();
        List<String> labels = Flux.range(0, 24)
                .flatMap(i -> Mono.fromCallable(() -> label(i % 2 == 0 ? ServerTestSupport.SEED_TEXT : "Habitat loss drives amphibian decline"))
                        .subscribeOn(Schedulers.boundedElastic()), 3)
                .collectList().block(Duration.ofMinutes(1));
        awaitIdle(client); // a run is counted just after it is answered
        String after = metrics();

        assertThat(labels).filteredOn(l -> !l.equals("busy")).containsOnly("Pharma-Toxico", "Ecology");
        double rows = BatchingIT.counter(after, "nv_inference_count_total") - BatchingIT.counter(before, "nv_inference_count_total");
        double runs = BatchingIT.counter(after, "nv_inference_exec_count_total") - BatchingIT.counter(before, "nv_inference_exec_count_total");
        assertThat(runs).isEqualTo(rows);
    }

    String label(String text) {
        EntityExchangeResult<String> r = client.post().uri("/v1/models/{m}:predict", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"" + text + "\"]}").exchange().expectBody(String.class).returnResult();
        if (r.getStatus().value() == 503) {
            return "busy";
        }
        String body = r.getResponseBody();
        return body.substring(body.indexOf("[\"") + 2, body.indexOf("\"]"));
    }

    @Test
    void overloadAnswersFast503sWithRetryAfterAndEveryRequestExactlyOnce() {
        List<EntityExchangeResult<String>> results = Flux.range(0, 48)
                .flatMap(i -> Mono.fromCallable(() -> client.post().uri("/v1/models/{m}:predict", MODEL)
                                .contentType(MediaType.APPLICATION_JSON)
                                .bodyValue("{\"instances\": [\"" + ServerTestSupport.SEED_TEXT + "\"]}")
                                .exchange().expectBody(String.class).returnResult())
                        .subscribeOn(Schedulers.boundedElastic()), 48)
                .collectList().block(Duration.ofMinutes(1));

        assertThat(results).hasSize(48);
        List<Integer> statuses = new ArrayList<>();
        for (EntityExchangeResult<String> r : results) {
            statuses.add(r.getStatus().value());
            if (r.getStatus().value() == 503) {
                assertThat(r.getResponseHeaders().getFirst("Retry-After")).isNotNull();
                assertThat(r.getResponseBody()).contains("\"error\"");
            } else {
                assertThat(r.getResponseBody()).isEqualTo("{\"predictions\":[\"Pharma-Toxico\"]}");
            }
        }
        assertThat(statuses).containsOnly(200, 503).contains(503).contains(200);
        assertThat(metrics()).containsPattern("igate_requests_rejected_total\\{[^}]*} [1-9]");
    }

    @Test
    void aRequestWhoseTimeoutExpiresInTheQueueIsAnswered503AndNotRun() throws Exception {
        CompletableFuture<Integer> big = occupyTheModel();

        client.post().uri("/v1/models/{m}:predict", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"late\"]}").exchange()
                .expectStatus().isEqualTo(503)
                .expectHeader().exists("Retry-After")
                .expectBody().jsonPath("$.error").value(String.class, m -> assertThat(m).contains("timed out after 500 ms"));

        assertThat(big.get()).isEqualTo(200);
        assertThat(metrics()).containsPattern("igate_requests_timed_out_total\\{[^}]*model_version=\"1\"} [1-9]");
    }

    @Autowired
    dev.igate.gateway.grpc.GrpcServer grpc;

    @Test
    void aRequestWhoseTimeoutExpiresInTheQueueOverGrpcIsUnavailableAsTritonAnswersIt() throws Exception {
        CompletableFuture<Integer> big = occupyTheModel();
        io.grpc.ManagedChannel channel = GrpcClients.channel(grpc.port());
        try {
            var stub = dev.igate.grpc.v2.GRPCInferenceServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, java.util.concurrent.TimeUnit.SECONDS);
            assertThatThrownBy(() -> stub.modelInfer(GrpcIT.textRequest("1", false, null, "late")))
                    .isInstanceOfSatisfying(io.grpc.StatusRuntimeException.class, e -> {
                        assertThat(e.getStatus().getCode()).isEqualTo(io.grpc.Status.Code.UNAVAILABLE);
                        assertThat(e.getStatus().getDescription()).contains("timed out after 500 ms");
                    });
        } finally {
            channel.shutdownNow().awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
        }
        assertThat(big.get()).isEqualTo(200);
    }

    @Test
    void aClientThatGoesAwayCancelsItsQueuedWork() throws Exception {
        CompletableFuture<Integer> big = occupyTheModel();
        WebTestClient impatient = client.mutate().responseTimeout(Duration.ofMillis(150)).build();

        try {
            impatient.post().uri("/v1/models/{m}:predict", MODEL).contentType(MediaType.APPLICATION_JSON)
                    .bodyValue("{\"instances\": [\"gone\"]}").exchange();
        } catch (IllegalStateException | AssertionError e) {
            // the client gave up: that is the point
        }

        assertThat(big.get()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(metrics()).containsPattern("igate_requests_cancelled_total\\{[^}]*model_version=\"1\"} [1-9]"));
    }
}
