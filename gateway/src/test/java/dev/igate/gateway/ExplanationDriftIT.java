package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.test.context.TestPropertySource;

/**
 * Stable against canary explanations (issue 27): with every prediction sampled, both demo
 * revisions explain the same texts, the comparisons are exported per model, and a canary whose
 * explanations drift past the rule's overlap while the labels agree is rolled back, its weight set
 * to 0 and the rollback counted with reason "explanations".
 */
@TestPropertySource(properties = {"igate.explainer.drift-every=1", "igate.explainer.drift-top-k=3",
        "igate.rollback.min-explanation-overlap=1.0", "igate.rollback.min-explanation-samples=3",
        "spring.cloud.gateway.server.webflux.routes[0].id=drift-stable",
        "spring.cloud.gateway.server.webflux.routes[0].uri=forward:/v1/models/BERTSeqClassification/versions/1:predict",
        "spring.cloud.gateway.server.webflux.routes[0].predicates[0]=Path=/v1/models/BERTSeqClassification:predict",
        "spring.cloud.gateway.server.webflux.routes[0].predicates[1]=Weight=drift, 50",
        "spring.cloud.gateway.server.webflux.routes[0].metadata.model=BERTSeqClassification",
        "spring.cloud.gateway.server.webflux.routes[0].metadata.version=1",
        "spring.cloud.gateway.server.webflux.routes[0].metadata.revision=stable",
        "spring.cloud.gateway.server.webflux.routes[1].id=drift-canary",
        "spring.cloud.gateway.server.webflux.routes[1].uri=forward:/v1/models/BERTSeqClassification/versions/2:predict",
        "spring.cloud.gateway.server.webflux.routes[1].predicates[0]=Path=/v1/models/BERTSeqClassification:predict",
        "spring.cloud.gateway.server.webflux.routes[1].predicates[1]=Weight=drift, 50",
        "spring.cloud.gateway.server.webflux.routes[1].metadata.model=BERTSeqClassification",
        "spring.cloud.gateway.server.webflux.routes[1].metadata.version=2",
        "spring.cloud.gateway.server.webflux.routes[1].metadata.revision=canary",
        "spring.cloud.gateway.server.webflux.routes[1].metadata.auto-rollback=true"})
class ExplanationDriftIT extends ServerTestSupport {

    static final List<String> TEXTS = List.of(
            "Chronic dietary exposure to cadmium raised urinary biomarkers of kidney damage in rice farmers near smelters.",
            "Hepatic enzyme induction by rifampicin lowered plasma levels of co-administered oral contraceptives in healthy women.",
            "Developmental neurotoxicity of chlorpyrifos was assessed in rats exposed during gestation and lactation.");

    @Test
    void canaryExplanationsAreComparedWithStablesAndADriftRollsTheCanaryBack() {
        ServerTestSupport.awaitReady(client, "/v2/models/" + MODEL + "/versions/2/ready");
        await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(300)).until(() -> {
            for (String text : TEXTS) {
                client.post().uri("/v1/models/{m}:predict", MODEL).contentType(MediaType.APPLICATION_JSON)
                        .bodyValue("{\"instances\": [\"" + text + "\"]}").exchange().expectStatus().isOk();
            }
            return metric("igate_canary_rollbacks_total", "reason=\"explanations\"") >= 1;
        });

        assertThat(metric("igate_explanation_drift_samples_total", "labels=\"agree\"")).isGreaterThanOrEqualTo(3);
        assertThat(metric("igate_explanation_drift_overlap_count", "BERTSeqClassification")).isGreaterThanOrEqualTo(3);
        // the canary gets nothing now: every prediction is version 1's
        for (int i = 0; i < 10; i++) {
            client.post().uri("/v1/models/{m}:predict", MODEL).contentType(MediaType.APPLICATION_JSON)
                    .bodyValue("{\"instances\": [\"" + TEXTS.get(0) + "\"]}").exchange().expectStatus().isOk()
                    .expectHeader().valueEquals("X-Model-Version", "1");
        }
        assertThat(metric("igate_canary_rollbacks_total", "reason=\"explanations\"")).isEqualTo(1);
    }

    double metric(String name, String having) {
        String metrics = new String(client.get().uri("/actuator/prometheus").exchange().expectStatus().isOk().expectBody()
                .returnResult().getResponseBody(), java.nio.charset.StandardCharsets.UTF_8);
        return metrics.lines().filter(l -> l.startsWith(name) && l.contains(having))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
    }
}
