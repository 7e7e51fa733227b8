package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * Payload logging to an HTTP sink, as KServe's logger: each request and response a CloudEvent in
 * binary mode with KServe's types, the request's id and extensions naming model, version and
 * endpoint; a sink that hangs never delays an inference, and what does not fit the buffer is
 * dropped and counted.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "igate.models.BERTSeqClassification.logger.mode=all", "igate.logger-buffer=4"})
class PayloadLoggingIT extends ServerTestSupport {

    record Event(String path, Map<String, List<String>> headers, String body) {
        String header(String name) {
            return headers.entrySet().stream().filter(e -> e.getKey().equalsIgnoreCase(name)).map(e -> e.getValue().get(0))
                    .findFirst().orElse(null);
        }
    }

    static final List<Event> events = new CopyOnWriteArrayList<>();
    static volatile CountDownLatch hold = new CountDownLatch(0);
    static HttpServer sink;

    @DynamicPropertySource
    static void sink(DynamicPropertyRegistry registry) throws IOException {
        if (sink == null) {
            sink = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
            sink.createContext("/", exchange -> {
                try {
                    hold.await(60, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                events.add(new Event(exchange.getRequestURI().getPath(), Map.copyOf(exchange.getRequestHeaders()),
                        new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8)));
                exchange.sendResponseHeaders(202, -1);
                exchange.close();
            });
            sink.setExecutor(java.util.concurrent.Executors.newFixedThreadPool(64));
            sink.start();
        }
        registry.add("igate.models.BERTSeqClassification.logger.url", () -> "http://127.0.0.1:" + sink.getAddress().getPort() + "/");
        // a route of its own logging: requests only, to another path of the sink (a list binds from one source: all of it here)
        String route = "spring.cloud.gateway.server.webflux.routes[0].";
        registry.add(route + "id", () -> "logged-route");
        registry.add(route + "uri", () -> "forward:/v2/models/BERTSeqClassification/versions/2/infer");
        registry.add(route + "predicates[0]", () -> "Path=/v2/models/BERTSeqClassification/infer");
        registry.add(route + "predicates[1]", () -> "Method=POST");
        registry.add(route + "metadata.logger-mode", () -> "request");
        registry.add(route + "metadata.logger-url", () -> "http://127.0.0.1:" + sink.getAddress().getPort() + "/route");
    }

    @AfterAll
    static void stopSink() {
        hold.countDown();
        sink.stop(0);
    }

    static String body(String id, String text) {
        return "{\"id\": \"" + id + "\", \"inputs\": [{\"name\": \"text\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"" + text + "\"]}]}";
    }

    List<Event> eventsOf(String id) {
        return events.stream().filter(e -> id.equals(e.header("ce-id"))).toList();
    }

    @Test
    void eachRequestAndResponseIsACloudEventWithKservesTypesAndTheRequestsId() {
        String id = "logged-" + System.nanoTime();
        client.post().uri("/v2/models/{m}/versions/1/infer", MODEL).contentType(MediaType.APPLICATION_JSON).bodyValue(body(id, SEED_TEXT))
                .exchange().expectStatus().isOk();

        await().atMost(Duration.ofSeconds(30)).until(() -> eventsOf(id).size() == 2);
        Event request = eventsOf(id).stream().filter(e -> e.header("ce-type").endsWith(".request")).findFirst().orElseThrow();
        Event response = eventsOf(id).stream().filter(e -> e.header("ce-type").endsWith(".response")).findFirst().orElseThrow();
        assertThat(request.header("ce-type")).isEqualTo("org.kubeflow.serving.inference.request");
        assertThat(response.header("ce-type")).isEqualTo("org.kubeflow.serving.inference.response");
        assertThat(request.header("ce-specversion")).isEqualTo("1.0");
        assertThat(request.header("ce-source")).startsWith("igate://");
        assertThat(request.header("ce-inferenceservicename")).isEqualTo(MODEL);
        assertThat(request.header("ce-modelversion")).isEqualTo("1");
        assertThat(request.header("ce-endpoint")).isEqualTo("infer");
        assertThat(request.header("content-type")).isEqualTo("application/json");
        assertThat(request.body()).contains(SEED_TEXT);
        assertThat(response.body()).contains("\"id\":\"" + id + "\"").contains("Pharma-Toxico");
    }

    @Test
    void aHangingSinkNeverDelaysAnInferenceAndWhatDoesNotFitIsDroppedAndCounted() {
        hold = new CountDownLatch(1);
        try {
            // the sink answers nothing: 32 events wait on it, 4 fill the buffer, the rest must be dropped
            for (int i = 0; i < 40; i++) {
                client.post().uri("/v2/models/{m}/versions/1/infer", MODEL).contentType(MediaType.APPLICATION_JSON)
                        .bodyValue(body("held-" + i, SEED_TEXT)).exchange().expectStatus().isOk();
            }
            String metrics = new String(client.get().uri("/actuator/prometheus").exchange().expectBody().returnResult().getResponseBody(),
                    StandardCharsets.UTF_8);
            assertThat(metrics).containsPattern("igate_payload_log_dropped_total\\{[^}]*\\} [1-9]");
        } finally {
            hold.countDown();
        }
    }

    @Test
    void aRouteWithItsOwnLoggingLogsWhatItForwardsThereInItsMode() {
        String id = "routed-" + System.nanoTime();
        client.post().uri("/v2/models/{m}/infer", MODEL).contentType(MediaType.APPLICATION_JSON).bodyValue(body(id, SEED_TEXT))
                .exchange().expectStatus().isOk().expectHeader().valueEquals("X-Model-Version", "2");

        await().atMost(Duration.ofSeconds(30)).until(() -> !eventsOf(id).isEmpty());
        // the route's mode (request) and sink (/route), not the model's (all, /)
        await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(5)).until(() -> eventsOf(id).size() == 1);
        Event only = eventsOf(id).get(0);
        assertThat(only.path()).isEqualTo("/route");
        assertThat(only.header("ce-type")).isEqualTo("org.kubeflow.serving.inference.request");
        assertThat(only.header("ce-modelversion")).isEqualTo("2");
    }

    @Test
    void v1PredictionsAreLoggedToo() {
        client.post().uri("/v1/models/{m}/versions/1:predict", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"A V1 text that is logged\"]}").exchange().expectStatus().isOk();

        await().atMost(Duration.ofSeconds(30)).until(() -> events.stream()
                .anyMatch(e -> "predict".equals(e.header("ce-endpoint")) && e.body().contains("A V1 text that is logged")));
    }
}
