package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;

/** Server and model metadata, V2 health, actuator probes and the Prometheus exposition. */
class MetadataAndHealthIT extends ServerTestSupport {

    @Test
    void serverMetadataNamesTheServer() {
        client.get().uri("/v2").exchange().expectStatus().isOk().expectBody()
                .jsonPath("$.name").isEqualTo("igate")
                .jsonPath("$.version").exists()
                .jsonPath("$.extensions").isArray();
    }

    @Test
    void kserveV1ClientsLivenessIsTheRoot() {
        // KServe's InferenceRESTClient.is_server_live() with protocol v1: GET / and {"status": "alive"}
        client.get().uri("/").exchange().expectStatus().isOk().expectBody().jsonPath("$.status").isEqualTo("alive");
    }

    @Test
    void v2HealthIsLiveAndReady() {
        client.get().uri("/v2/health/live").exchange().expectStatus().isOk().expectBody().jsonPath("$.live").isEqualTo(true);
        client.get().uri("/v2/health/ready").exchange().expectStatus().isOk().expectBody().jsonPath("$.ready").isEqualTo(true);
        client.get().uri("/v2/models/{m}/ready", MODEL).exchange().expectStatus().isOk()
                .expectBody().jsonPath("$.ready").isEqualTo(true);
    }

    @Test
    void modelMetadataListsVersionsTensorsProviderAndLabels() {
        client.get().uri("/v2/models/{m}", MODEL).exchange().expectStatus().isOk().expectBody()
                .jsonPath("$.name").isEqualTo(MODEL)
                .jsonPath("$.versions").isEqualTo(java.util.List.of("1", "2"))
                .jsonPath("$.platform").isEqualTo("onnxruntime_onnx")
                .jsonPath("$.inputs[0].name").isEqualTo("input_ids")
                .jsonPath("$.inputs[0].datatype").isEqualTo("INT64")
                .jsonPath("$.inputs[0].shape").isEqualTo(java.util.List.of(-1, -1))
                .jsonPath("$.outputs[0].name").isEqualTo("logits")
                .jsonPath("$.outputs[0].shape").isEqualTo(java.util.List.of(-1, 6))
                .jsonPath("$.parameters.execution_provider").isEqualTo("CPUExecutionProvider")
                .jsonPath("$.parameters.labels[0]").isEqualTo("Pharma-Toxico")
                .jsonPath("$.parameters.version").isEqualTo("1");
        client.get().uri("/v2/models/{m}/versions/2", MODEL).exchange().expectStatus().isOk().expectBody()
                .jsonPath("$.parameters.version").isEqualTo("2");
    }

    @Test
    void v1ListsModelsAndTheirReadiness() {
        client.get().uri("/v1/models").exchange().expectStatus().isOk().expectBody()
                .jsonPath("$.models").isEqualTo(java.util.List.of(MODEL));
        client.get().uri("/v1/models/{m}", MODEL).exchange().expectStatus().isOk().expectBody()
                .jsonPath("$.name").isEqualTo(MODEL)
                .jsonPath("$.ready").isEqualTo(true);
    }

    @Test
    void actuatorProbesReportLivenessAndModelReadiness() {
        client.get().uri("/actuator/health/liveness").exchange().expectStatus().isOk().expectBody()
                .jsonPath("$.status").isEqualTo("UP");
        client.get().uri("/actuator/health/readiness").exchange().expectStatus().isOk().expectBody()
                .jsonPath("$.status").isEqualTo("UP")
                .jsonPath("$.components.models.details." + MODEL + ".1").isEqualTo("READY");
    }

    @Test
    void prometheusExposesStageHistogramsAndRequestOutcomes() {
        client.post().uri("/v2/models/{m}/infer", MODEL).contentType(MediaType.APPLICATION_JSON).bodyValue(SEED)
                .exchange().expectStatus().isOk();
        client.post().uri("/v2/models/{m}/infer", MODEL).contentType(MediaType.APPLICATION_JSON).bodyValue("{")
                .exchange().expectStatus().isBadRequest();

        String metrics = client.get().uri("/actuator/prometheus").exchange().expectStatus().isOk()
                .expectBody(String.class).returnResult().getResponseBody();

        assertThat(metrics)
                .contains("request_preprocess_seconds_bucket{")
                .contains("request_predict_seconds_count{")
                .contains("request_postprocess_seconds_sum{")
                .contains("model_name=\"" + MODEL + "\"")
                .containsPattern("igate_requests_total\\{[^}]*outcome=\"success\"")
                .containsPattern("igate_requests_total\\{[^}]*outcome=\"client_error\"");
    }

    @Test
    void onlyHealthInfoAndPrometheusActuatorEndpointsAreExposed() {
        client.get().uri("/actuator/env").exchange().expectStatus().isNotFound();
        client.get().uri("/actuator/beans").exchange().expectStatus().isNotFound();
    }
}
