package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.EntityExchangeResult;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** V1 predict and V2 infer take CloudEvents in binary and structured mode and answer in the same mode, as KServe does. */
class CloudEventsIT extends ServerTestSupport {

    static final JsonMapper JSON = JsonMapper.builder().build();

    @Test
    void aBinaryModeEventIsAnsweredAsABinaryModeEvent() {
        EntityExchangeResult<byte[]> r = client.post().uri("/v2/models/{m}/versions/1/infer", MODEL).contentType(MediaType.APPLICATION_JSON)
                .header("ce-specversion", "1.0").header("ce-id", "event-7").header("ce-source", "test").header("ce-type", "io.kserve.inference.request")
                .bodyValue("{\"inputs\": [{\"name\": \"text\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"" + SEED_TEXT + "\"]}]}")
                .exchange().expectStatus().isOk().expectBody().returnResult();

        assertThat(r.getResponseHeaders().getFirst("ce-type")).isEqualTo("io.kserve.inference.response");
        assertThat(r.getResponseHeaders().getFirst("ce-specversion")).isEqualTo("1.0");
        assertThat(r.getResponseHeaders().getFirst("ce-source")).isEqualTo("io.kserve.inference." + MODEL);
        assertThat(r.getResponseHeaders().getFirst("ce-requestid")).isEqualTo("event-7");
        assertThat(r.getResponseHeaders().getFirst("ce-id")).isNotBlank().isNotEqualTo("event-7");
        assertThat(JSON.readTree(r.getResponseBody()).at("/outputs/0/data/0").stringValue()).isEqualTo("Pharma-Toxico");
    }

    @Test
    void aStructuredModeEventIsAnsweredAsAStructuredModeEvent() {
        String event = "{\"specversion\": \"1.0\", \"id\": \"event-8\", \"source\": \"test\", \"type\": \"io.kserve.inference.request\","
                + " \"datacontenttype\": \"application/json\", \"data\": {\"instances\": [\"" + SEED_TEXT + "\"]}}";
        EntityExchangeResult<byte[]> r = client.post().uri("/v1/models/{m}/versions/1:predict", MODEL)
                .contentType(MediaType.parseMediaType("application/cloudevents+json")).bodyValue(event)
                .exchange().expectStatus().isOk().expectBody().returnResult();

        assertThat(r.getResponseHeaders().getContentType().toString()).startsWith("application/cloudevents+json");
        JsonNode answer = JSON.readTree(r.getResponseBody());
        assertThat(answer.get("type").stringValue()).isEqualTo("io.kserve.inference.response");
        assertThat(answer.get("requestid").stringValue()).isEqualTo("event-8");
        assertThat(answer.at("/data/predictions/0").stringValue()).isEqualTo("Pharma-Toxico");
    }

    @Test
    void anEventWithoutItsRequiredAttributesIs400() {
        client.post().uri("/v2/models/{m}/versions/1/infer", MODEL).contentType(MediaType.APPLICATION_JSON)
                .header("ce-specversion", "1.0").bodyValue("{\"inputs\": []}")
                .exchange().expectStatus().isBadRequest().expectBody().jsonPath("$.error").value(e ->
                        assertThat(e.toString()).contains("ce-id, ce-source, ce-type"));
        client.post().uri("/v1/models/{m}/versions/1:predict", MODEL).contentType(MediaType.parseMediaType("application/cloudevents+json"))
                .bodyValue("{\"specversion\": \"1.0\", \"id\": \"x\", \"source\": \"s\", \"type\": \"t\"}")
                .exchange().expectStatus().isBadRequest().expectBody().jsonPath("$.error").value(e ->
                        assertThat(e.toString()).contains("carries no data"));
    }
}
