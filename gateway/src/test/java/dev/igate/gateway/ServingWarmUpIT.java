package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.context.TestPropertySource;

/**
 * The serving warm-up (issue 29's cold start): readiness waits until the demo model has been
 * called through the real handlers, whose requests count as requests but never reach the payload
 * logger, which logs a client's call after it.
 */
@ExtendWith(OutputCaptureExtension.class)
@TestPropertySource(properties = {"igate.warm-up.max-duration=8s", "igate.models.BERTSeqClassification.logger.mode=all"})
class ServingWarmUpIT extends ServerTestSupport {

    static HttpServer sink;
    static final AtomicInteger LOGGED = new AtomicInteger();

    @DynamicPropertySource
    static void payloadSink(DynamicPropertyRegistry registry) throws java.io.IOException {
        if (sink == null) {
            sink = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
            sink.createContext("/", exchange -> {
                exchange.getRequestBody().readAllBytes();
                LOGGED.incrementAndGet();
                exchange.sendResponseHeaders(202, -1);
                exchange.close();
            });
            sink.start();
        }
        registry.add("igate.models.BERTSeqClassification.logger.url", () -> "http://127.0.0.1:" + sink.getAddress().getPort() + "/");
    }

    @AfterAll
    static void stop() {
        sink.stop(0);
    }

    @Test
    void readinessWaitsForTheWarmUpThroughTheHandlersWhichIsNeverPayloadLogged(CapturedOutput output) {
        awaitReady(client, "/v2/health/ready");
        // ready only once the warm-up said it was done
        assertThat(output.getAll()).containsPattern("Serving path warmed up in [0-9]+ ms \\((the JIT compiler went quiet|its bound \\(8000 ms\\)"
                + " passed)\\): [1-9][0-9]* requests, [1-9][0-9]* answered, to [1-9] models");
        // V1 predict and V2 infer through the real handlers, counted as requests are
        String metrics = client.get().uri("/actuator/prometheus").exchange().expectBody(String.class).returnResult().getResponseBody();
        assertThat(metrics).containsPattern("igate_requests_total\\{[^}]*endpoint=\"v1_predict\"[^}]*model_name=\"" + MODEL
                + "\"[^}]*outcome=\"success\"[^}]*} [1-9]");
        assertThat(metrics).containsPattern("igate_requests_total\\{[^}]*endpoint=\"v2_infer\"[^}]*model_name=\"" + MODEL
                + "\"[^}]*outcome=\"success\"[^}]*} [1-9]");
        assertThat(LOGGED).hasValue(0);

        // a client's call: its request and response events, and nothing of the warm-up's
        client.post().uri("/v1/models/{m}:predict", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"" + SEED_TEXT + "\"]}").exchange().expectStatus().isOk();
        await().atMost(Duration.ofSeconds(30)).until(() -> LOGGED.get() >= 2);
        assertThat(LOGGED).hasValue(2);
    }
}
