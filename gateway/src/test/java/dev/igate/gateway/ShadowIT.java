package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;

/**
 * Shadow traffic: V1 predict on version 1 mirrored to version 2 (an in-process revision), V2
 * infer mirrored to an address where nothing listens. Callers get only the primary's answers and
 * are never affected by the shadow; agreement and failures are counted.
 */
@ShadowRoutesTest
class ShadowIT extends ServerTestSupport {

    double counter(String route, String outcome) {
        String metrics = client.get().uri("/actuator/prometheus").exchange().expectBody(String.class).returnResult().getResponseBody();
        Matcher m = Pattern.compile("(?m)^igate_shadow_requests_total\\{[^}]*outcome=\"" + outcome + "\",route=\"" + route + "\"} (\\S+)$")
                .matcher(metrics);
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }

    double awaitCounter(String route, String outcome, double atLeast) {
        return await().atMost(java.time.Duration.ofSeconds(10)).until(() -> counter(route, outcome), v -> v >= atLeast);
    }

    @Test
    void callersGetThePrimarysAnswerAndAgreementIsCounted() throws InterruptedException {
        for (int i = 0; i < 5; i++) {
            client.post().uri("/v1/models/{m}:predict", MODEL).contentType(MediaType.APPLICATION_JSON)
                    .bodyValue("{\"instances\": [\"" + ServerTestSupport.SEED_TEXT + "\"]}").exchange()
                    .expectStatus().isOk()
                    .expectHeader().valueEquals("X-Model-Version", "1")
                    .expectHeader().valueEquals("X-Revision", "stable")
                    .expectBody().json("{\"predictions\":[\"Pharma-Toxico\"]}");
        }

        assertThat(awaitCounter("shadowed-predict", "agree", 5)).isEqualTo(5);
        String metrics = client.get().uri("/actuator/prometheus").exchange().expectBody(String.class).returnResult().getResponseBody();
        assertThat(metrics).containsPattern("igate_shadow_latency_seconds_count\\{[^}]*role=\"shadow\",route=\"shadowed-predict\"} 5")
                .containsPattern("igate_shadow_latency_seconds_count\\{[^}]*role=\"primary\",route=\"shadowed-predict\"} 5");
        // the shadow's own calls reached version 2
        assertThat(metrics).containsPattern("igate_requests_total\\{[^}]*endpoint=\"v1_predict\",model_name=\"" + MODEL
                + "\",model_version=\"2\",outcome=\"success\"} [5-9]");
    }

    @Test
    void theShadowsExplanationsAreComparedWithThePrimarysUnderTheRoute() {
        client.post().uri("/shadowed-explained:predict").contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"Habitat loss drives amphibian decline in montane wetlands\"]}").exchange()
                .expectStatus().isOk();

        // version 1 (the route's) and version 2 (the shadow) explain the text; the comparison is exported under the route
        String metrics = await().atMost(java.time.Duration.ofSeconds(60)).until(() -> client.get().uri("/actuator/prometheus").exchange()
                .expectBody(String.class).returnResult().getResponseBody(), m -> m.contains("route=\"shadowed-explained\"")
                && m.matches("(?s).*igate_explanation_drift_samples_total\\{[^}]*route=\"shadowed-explained\"} [1-9].*"));
        Matcher sum = Pattern.compile("(?m)^igate_explanation_drift_overlap_sum\\{[^}]*route=\"shadowed-explained\"} (\\S+)$").matcher(metrics);
        Matcher count = Pattern.compile("(?m)^igate_explanation_drift_overlap_count\\{[^}]*route=\"shadowed-explained\"} (\\S+)$").matcher(metrics);
        assertThat(sum.find()).isTrue();
        assertThat(count.find()).isTrue();
        assertThat(Double.parseDouble(count.group(1))).isGreaterThanOrEqualTo(1);
        assertThat(Double.parseDouble(sum.group(1)) / Double.parseDouble(count.group(1))).isBetween(0.0, 1.0);
        assertThat(metrics).containsPattern("igate_explanation_drift_spearman_count\\{[^}]*route=\"shadowed-explained\"} [1-9]");
    }

    @Test
    void aFailingShadowNeverReachesTheCaller() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            client.post().uri("/v2/models/{m}/infer", MODEL).contentType(MediaType.APPLICATION_JSON).bodyValue(ServerTestSupport.SEED)
                    .exchange().expectStatus().isOk()
                    .expectBody().jsonPath("$.outputs[0].data[0]").isEqualTo("Pharma-Toxico").jsonPath("$.model_version").isEqualTo("1");
        }

        assertThat(awaitCounter("shadow-down", "error", 3)).isEqualTo(3);
    }

    @Test
    void theShadowGetsTheCallAsTheCallerSentItHeadersAndQueryIncluded() {
        // a binary tensor body: its content type and Inference-Header-Content-Length must reach the shadow too
        byte[] text = ServerTestSupport.SEED_TEXT.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        String header = "{\"inputs\": [{\"name\": \"text\", \"shape\": [1], \"datatype\": \"BYTES\", "
                + "\"parameters\": {\"binary_data_size\": " + (text.length + 4) + "}}]}";
        java.nio.ByteBuffer body = java.nio.ByteBuffer.allocate(header.length() + 4 + text.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        body.put(header.getBytes(java.nio.charset.StandardCharsets.US_ASCII)).putInt(text.length).put(text);
        for (int i = 0; i < 3; i++) {
            client.post().uri("/shadowed-binary/infer?trace=1").contentType(MediaType.APPLICATION_OCTET_STREAM)
                    .header("Inference-Header-Content-Length", String.valueOf(header.length())).bodyValue(body.array())
                    .exchange().expectStatus().isOk()
                    .expectBody().jsonPath("$.outputs[0].data[0]").isEqualTo("Pharma-Toxico");
        }

        assertThat(awaitCounter("shadowed-binary", "agree", 3)).isEqualTo(3);
        assertThat(counter("shadowed-binary", "error")).isZero();
    }
}
