package dev.igate.gateway;

import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;

/** The seed request and its V1 equivalent against the demo model. */
class SeedRequestIT extends ServerTestSupport {

    @Test
    void seedV2RequestAnswersPharmaToxicoInTheSeedsShape() {
        client.post().uri("/v2/models/{m}/infer", MODEL).contentType(MediaType.APPLICATION_JSON).bodyValue(SEED)
                .exchange()
                .expectStatus().isOk()
                .expectHeader().valueEquals("X-Model-Version", "1")
                .expectBody()
                .jsonPath("$.id").isEqualTo("d3b15cad-50a2-4eaf-80ce-8b0a428bd298")
                .jsonPath("$.model_name").isEqualTo(MODEL)
                .jsonPath("$.model_version").isEqualTo("1")
                .jsonPath("$.outputs.length()").isEqualTo(1)
                .jsonPath("$.outputs[0].name").isEqualTo("predict")
                .jsonPath("$.outputs[0].datatype").isEqualTo("BYTES")
                .jsonPath("$.outputs[0].shape.length()").isEqualTo(0)
                .jsonPath("$.outputs[0].data[0]").isEqualTo("Pharma-Toxico");
    }

    @Test
    void seedRequestWorksWithoutAContentTypeAsKServeAccepts() {
        client.post().uri("/v2/models/{m}/infer", MODEL).bodyValue(SEED)
                .exchange()
                .expectStatus().isOk()
                .expectBody().jsonPath("$.outputs[0].data[0]").isEqualTo("Pharma-Toxico");
    }

    @Test
    void seedRequestOnVersion2AlsoAnswersPharmaToxico() {
        client.post().uri("/v2/models/{m}/versions/2/infer", MODEL).contentType(MediaType.APPLICATION_JSON).bodyValue(SEED)
                .exchange()
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.model_version").isEqualTo("2")
                .jsonPath("$.outputs[0].data[0]").isEqualTo("Pharma-Toxico");
    }

    @Test
    void v1PredictAnswersALabelPerInstance() {
        client.post().uri("/v1/models/{m}:predict", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"" + SEED_TEXT + "\", {\"text\": \"Checkpoint inhibitors prolong survival "
                        + "in metastatic melanoma\"}]}")
                .exchange()
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.predictions.length()").isEqualTo(2)
                .jsonPath("$.predictions[0]").isEqualTo("Pharma-Toxico")
                .jsonPath("$.predictions[1]").isEqualTo("Oncology");
    }

    @Test
    void v1PredictCanReturnProbabilities() {
        client.post().uri("/v1/models/{m}:predict?probabilities=true", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"" + SEED_TEXT + "\"]}")
                .exchange()
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.predictions[0].label").isEqualTo("Pharma-Toxico")
                .jsonPath("$.predictions[0].probabilities['Pharma-Toxico']").value(p -> {
                    if (((Number) p).doubleValue() < 0.5) {
                        throw new AssertionError("Pharma-Toxico probability " + p);
                    }
                });
    }

    @Test
    void batchedTextInputGivesOneLabelPerTextAndProbabilitiesOnRequest() {
        String body = """
                {"inputs": [{"name": "text", "shape": [3], "datatype": "BYTES",
                  "data": ["%s", "Compiler optimisations for vectorised loops", "Habitat loss drives amphibian decline"]}],
                 "parameters": {"return_probabilities": true}}
                """.formatted(SEED_TEXT);
        client.post().uri("/v2/models/{m}/infer", MODEL).contentType(MediaType.APPLICATION_JSON).bodyValue(body)
                .exchange()
                .expectStatus().isOk()
                .expectBody()
                .jsonPath("$.outputs[0].shape[0]").isEqualTo(3)
                .jsonPath("$.outputs[0].data").isEqualTo(java.util.List.of("Pharma-Toxico", "Computer-Science", "Ecology"))
                .jsonPath("$.outputs[1].name").isEqualTo("probabilities")
                .jsonPath("$.outputs[1].shape").isEqualTo(java.util.List.of(3, 6))
                .jsonPath("$.outputs[1].data.length()").isEqualTo(18);
    }
}
