package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.WebTestClient;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** V1 and V2 explain against the demo model. */
class ExplainIT extends ServerTestSupport {

    static final JsonMapper JSON = JsonMapper.builder().build();

    JsonNode explainV2(String path, String body) {
        byte[] bytes = client.post().uri(path).contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange()
                .expectStatus().isOk().expectBody().returnResult().getResponseBody();
        return JSON.readTree(bytes);
    }

    static String v2Body(String parameters) {
        return "{\"inputs\": [{\"name\": \"text\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"" + SEED_TEXT + "\"]}],"
                + " \"parameters\": " + parameters + "}";
    }

    @Test
    void seedExplainRequestAnswersInTheSeedsShapeWithAnImportancePerWord() {
        JsonNode response = explainV2("/v2/models/" + MODEL + "/explain", SEED);

        assertThat(response.get("id").stringValue()).isEqualTo("d3b15cad-50a2-4eaf-80ce-8b0a428bd298");
        assertThat(response.get("model_name").stringValue()).isEqualTo(MODEL);
        assertThat(response.get("model_version").stringValue()).isEqualTo("1");
        JsonNode output = response.at("/outputs/0");
        assertThat(output.get("name").stringValue()).isEqualTo("explain");
        assertThat(output.get("datatype").stringValue()).isEqualTo("BYTES");
        assertThat(output.at("/shape/0").intValue()).isEqualTo(1);
        JsonNode explanation = output.at("/data/0");
        assertThat(explanation.get("words").size()).isEqualTo(16).isEqualTo(explanation.get("importances").size());
        assertThat(explanation.at("/words/0").stringValue()).isEqualTo("[CLS]");
        assertThat(explanation.get("target").stringValue()).isEqualTo("Pharma-Toxico");
        double norm = 0;
        for (JsonNode v : explanation.get("importances")) {
            norm += v.doubleValue() * v.doubleValue();
        }
        assertThat(norm).isCloseTo(1.0, org.assertj.core.api.Assertions.within(1e-9));
        assertThat(Math.abs(explanation.get("delta").doubleValue())).isLessThan(0.05);
    }

    @Test
    void v1ExplainMergesSubWordsAndReportsPredictionAndProbabilities() {
        byte[] bytes = client.post().uri("/v1/models/{m}:explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"" + SEED_TEXT + "\"], \"parameters\": {\"merge_subwords\": true}}")
                .exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody();
        JsonNode response = JSON.readTree(bytes);

        assertThat(response.at("/predictions/0").stringValue()).isEqualTo("Pharma-Toxico");
        JsonNode e = response.at("/explanations/0");
        List<String> words = e.get("words").values().stream().map(JsonNode::stringValue).toList();
        assertThat(words).contains("bioavailability", "Risk").doesNotContain("##ava");
        assertThat(e.get("importances").size()).isEqualTo(words.size());
        assertThat(e.get("target").stringValue()).isEqualTo("Pharma-Toxico");
        assertThat(e.at("/probabilities/Pharma-Toxico").doubleValue()).isGreaterThan(0.5);
        assertThat(e.get("n_steps").intValue()).isEqualTo(50);
        assertThat(e.get("gradients").stringValue()).isEqualTo("graph");
    }

    @Test
    void targetByLabelOrIndexStepsMethodBaselineAndGradientsAreHonoured() {
        JsonNode byLabel = explainV2("/v2/models/" + MODEL + "/explain", v2Body("{\"target\": \"Oncology\", \"n_steps\": 8}"));
        JsonNode byIndex = explainV2("/v2/models/" + MODEL + "/explain", v2Body("{\"target\": 1, \"n_steps\": 8}"));
        assertThat(byLabel.at("/outputs/0/data/0/target").stringValue()).isEqualTo("Oncology");
        assertThat(byIndex.at("/outputs/0/data/0/importances")).isEqualTo(byLabel.at("/outputs/0/data/0/importances"));

        JsonNode trapezoidZeros = explainV2("/v2/models/" + MODEL + "/versions/2/explain",
                v2Body("{\"method\": \"riemann_trapezoid\", \"n_steps\": 10, \"baseline\": \"zeros\"}"));
        assertThat(trapezoidZeros.get("model_version").stringValue()).isEqualTo("2");
        assertThat(trapezoidZeros.at("/outputs/0/data/0/importances/0").doubleValue()).isNotZero();

        byte[] blackbox = client.post().uri("/v1/models/{m}:explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"Graph neural networks\"], \"parameters\": {\"gradients\": \"blackbox\", \"n_steps\": 4}}")
                .exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody();
        assertThat(JSON.readTree(blackbox).at("/explanations/0/gradients").stringValue()).isEqualTo("blackbox");
    }

    @Test
    void badExplainParametersAre400() {
        for (String parameters : List.of("{\"target\": \"Nope\"}", "{\"target\": 6}", "{\"n_steps\": 0}",
                "{\"n_steps\": 100000}", "{\"n_steps\": \"many\"}", "{\"method\": \"simpson\"}",
                "{\"baseline\": \"noise\"}", "{\"gradients\": \"magic\"}", "{\"merge_subwords\": \"maybe\"}",
                "{\"explainer\": \"lime\"}")) {
            client.post().uri("/v2/models/{m}/explain", MODEL).contentType(MediaType.APPLICATION_JSON).bodyValue(v2Body(parameters))
                    .exchange().expectStatus().isBadRequest().expectBody().jsonPath("$.error").exists();
        }
        client.post().uri("/v2/models/{m}/explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"inputs\": [{\"name\": \"ids\", \"shape\": [1], \"datatype\": \"INT64\", \"data\": [1]}]}")
                .exchange().expectStatus().isBadRequest().expectBody().jsonPath("$.error").isEqualTo("Input ids must be BYTES text, was INT64");
    }

    @Test
    void explainTimeIsExported() {
        explainV2("/v2/models/" + MODEL + "/explain", v2Body("{\"n_steps\": 4}"));

        String metrics = client.get().uri("/actuator/prometheus").exchange().expectBody(String.class).returnResult().getResponseBody();

        assertThat(metrics).contains("request_explain_seconds_count{").containsPattern("igate_requests_total\\{[^}]*endpoint=\"v2_explain\"");
    }

    @Test
    void anExplanationPastTheWorkBudgetIs400NamingIt() {
        // two texts of 128 tokens (max-length), the black-box method at 500 steps: 2 x 500 x 128 rows of 128 tokens each
        String longText = String.join(" ", java.util.Collections.nCopies(200, "toxicology"));
        String texts = String.join(", ", java.util.Collections.nCopies(2, "\"" + longText + "\""));
        client.post().uri("/v1/models/{m}:explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [" + texts + "], \"parameters\": {\"gradients\": \"blackbox\", \"n_steps\": 500}}")
                .exchange().expectStatus().isBadRequest()
                .expectBody().jsonPath("$.error").value(String.class, m -> org.assertj.core.api.Assertions.assertThat(m)
                        .contains("igate.explainer.max-work-tokens (16777216)"));
    }

    @Test
    void aClientThatGoesAwayStopsItsExplanation() {
        // a black-box explanation of minutes, whose client gives up after 300 ms
        WebTestClient impatient = client.mutate().responseTimeout(java.time.Duration.ofMillis(300)).build();
        try {
            impatient.post().uri("/v1/models/{m}:explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                    .bodyValue("{\"instances\": [\"" + SEED_TEXT + "\"], \"parameters\": {\"gradients\": \"blackbox\", \"n_steps\": 500}}")
                    .exchange();
        } catch (IllegalStateException | AssertionError gone) {
            // the client gave up: that is the point
        }

        // then: the work stops at its next piece, and the explainer serves the next request
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(30)).untilAsserted(() ->
                org.assertj.core.api.Assertions.assertThat(client.get().uri("/actuator/prometheus").exchange()
                        .expectBody(String.class).returnResult().getResponseBody())
                        .containsPattern("igate_explanations_stopped_total\\{[^}]*reason=\"cancelled\"} [1-9]"));
        explainV2("/v2/models/" + MODEL + "/explain", v2Body("{\"n_steps\": 4}"));
    }

    @Test
    void anExplanationSaysWhetherItIsApproximateAndWhy() {
        // the gradient graph with enough steps: exact up to the quadrature
        client.post().uri("/v1/models/{m}:explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"" + SEED_TEXT + "\"], \"parameters\": {\"n_steps\": 100}}")
                .exchange().expectStatus().isOk().expectBody()
                .jsonPath("$.explanations[0].gradients").isEqualTo("graph")
                .jsonPath("$.explanations[0].approximate").isEqualTo(false)
                .jsonPath("$.explanations[0].approximation").doesNotExist();
        // finite differences: said so, with the reason
        client.post().uri("/v1/models/{m}:explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"" + SEED_TEXT + "\"], \"parameters\": {\"n_steps\": 4, \"gradients\": \"blackbox\"}}")
                .exchange().expectStatus().isOk().expectBody()
                .jsonPath("$.explanations[0].approximate").isEqualTo(true)
                .jsonPath("$.explanations[0].approximation").value(String.class,
                        m -> org.assertj.core.api.Assertions.assertThat(m).contains("finite differences (black-box method, as requested)"));
    }

    @Test
    void anExplainParameterNobodyReadsIs400NamingItAndTheNameItIsCloseTo() {
        client.post().uri("/v2/models/{m}/explain", MODEL).contentType(MediaType.APPLICATION_JSON).bodyValue(v2Body("{\"n_step\": 8}"))
                .exchange().expectStatus().isBadRequest().expectBody().jsonPath("$.error")
                .value(m -> assertThat((String) m).startsWith("Unknown explain parameter n_step (did you mean n_steps?)"));
        client.post().uri("/v1/models/{m}:explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"a\"], \"parameters\": {\"explainer\": \"occlusion\", \"shap_samples\": 100}}")
                .exchange().expectStatus().isBadRequest().expectBody().jsonPath("$.error")
                .value(m -> assertThat((String) m).contains("Unknown explain parameter shap_samples"));
    }

    @Test
    void eachExplainerAnswersInOneSchemaWithEachWordsCharactersInTheText() {
        for (String explainer : List.of("integrated_gradients", "gradient_x_input", "saliency", "occlusion", "shap")) {
            byte[] bytes = client.post().uri("/v1/models/{m}:explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                    .bodyValue("{\"instances\": [\"" + SEED_TEXT + "\"], \"parameters\": {\"explainer\": \"" + explainer
                            + "\", \"merge_subwords\": true, \"n_steps\": 8}}")
                    .exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody();
            JsonNode e = JSON.readTree(bytes).at("/explanations/0");
            assertThat(e.get("explainer").stringValue()).isEqualTo(explainer);
            assertThat(e.get("evaluations").longValue()).as(explainer).isPositive();
            assertThat(e.get("target").stringValue()).isEqualTo("Pharma-Toxico");
            // only integrated gradients' attributions sum to the change: the others have no delta
            assertThat(e.has("delta")).as(explainer).isEqualTo(explainer.equals("integrated_gradients"));
            List<String> words = e.get("words").values().stream().map(JsonNode::stringValue).toList();
            assertThat(words).contains("bioavailability");
            assertThat(e.get("offsets")).hasSize(words.size());
            assertThat(e.get("baseline").stringValue()).isEqualTo("pad");
            for (int i = 0; i < words.size(); i++) {
                int start = e.get("offsets").get(i).get(0).intValue();
                if (start >= 0) {
                    assertThat(SEED_TEXT.substring(start, e.get("offsets").get(i).get(1).intValue())).isEqualTo(words.get(i));
                }
            }
            double sum = 0;
            for (JsonNode v : e.get("importances")) {
                sum += Math.abs(v.doubleValue());
            }
            assertThat(sum).as(explainer).isGreaterThan(0);
        }
    }

    @Test
    void evaluateAddsErasersFaithfulnessToTheExplanation() {
        byte[] bytes = client.post().uri("/v1/models/{m}:explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"" + SEED_TEXT + "\"], \"parameters\": {\"evaluate\": true, \"n_steps\": 16}}")
                .exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody();
        JsonNode f = JSON.readTree(bytes).at("/explanations/0/faithfulness");

        assertThat(f.get("comprehensiveness").doubleValue()).isBetween(-1.0, 1.0);
        assertThat(f.get("sufficiency").doubleValue()).isBetween(-1.0, 1.0);
        assertThat(f.get("loo_correlation").doubleValue()).isBetween(-1.0, 1.0);
        // the seed sentence has 14 word-pieces' words: the full text, 2 x 5 bins, one removal per word
        assertThat(f.get("evaluations").intValue()).isGreaterThan(11);
    }

    @Test
    void contrastWithAndTheMaskAndUnknownBaselinesAreHonoured() {
        JsonNode contrast = explainV2("/v2/models/" + MODEL + "/explain", v2Body("{\"contrast_with\": \"Oncology\", \"n_steps\": 8}"));
        JsonNode e = contrast.at("/outputs/0/data/0");
        assertThat(e.get("target").stringValue()).isEqualTo("Pharma-Toxico");
        assertThat(e.get("contrast_with").stringValue()).isEqualTo("Oncology");
        JsonNode plain = explainV2("/v2/models/" + MODEL + "/explain", v2Body("{\"n_steps\": 8}")).at("/outputs/0/data/0");
        assertThat(e.get("importances")).isNotEqualTo(plain.get("importances"));
        client.post().uri("/v2/models/{m}/explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue(v2Body("{\"target\": 1, \"contrast_with\": \"Oncology\"}"))
                .exchange().expectStatus().isBadRequest().expectBody().jsonPath("$.error")
                .value(m -> assertThat((String) m).contains("nothing to contrast"));
        for (String baseline : List.of("mask", "unk")) {
            JsonNode b = explainV2("/v2/models/" + MODEL + "/explain", v2Body("{\"baseline\": \"" + baseline + "\", \"n_steps\": 8}"));
            assertThat(b.at("/outputs/0/data/0/importances")).as(baseline).isNotEqualTo(plain.get("importances"));
        }
    }

    @Test
    void acceptTextHtmlAnswersASelfContainedHeatmapPage() {
        byte[] page = client.post().uri("/v1/models/{m}:explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                .accept(MediaType.TEXT_HTML)
                .bodyValue("{\"instances\": [\"" + SEED_TEXT + "\"], \"parameters\": {\"merge_subwords\": true, \"n_steps\": 8, "
                        + "\"evaluate\": true, \"contrast_with\": \"Oncology\"}}")
                .exchange().expectStatus().isOk().expectHeader().contentTypeCompatibleWith(MediaType.TEXT_HTML)
                .expectBody().returnResult().getResponseBody();
        String html = new String(page, java.nio.charset.StandardCharsets.UTF_8);

        assertThat(html).startsWith("<!DOCTYPE html>").contains("bioavailability").contains("background:rgba(")
                .contains("against <b>Oncology</b>").contains("comprehensiveness").doesNotContain("<script").doesNotContain("http://");
        // V2 too, and JSON stays the default
        byte[] v2 = client.post().uri("/v2/models/{m}/explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                .header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8").bodyValue(v2Body("{\"n_steps\": 8}"))
                .exchange().expectStatus().isOk().expectHeader().contentTypeCompatibleWith(MediaType.TEXT_HTML)
                .expectBody().returnResult().getResponseBody();
        assertThat(new String(v2, java.nio.charset.StandardCharsets.UTF_8)).contains("Pharma-Toxico");
        explainV2("/v2/models/" + MODEL + "/explain", v2Body("{\"n_steps\": 8}"));
    }

    @Test
    void topKExplainsTheKMostProbableLabelsOfEachTextInTurn() {
        byte[] bytes = client.post().uri("/v1/models/{m}:explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"" + SEED_TEXT + "\", \"Checkpoint inhibitors prolong survival in metastatic melanoma\"],"
                        + " \"parameters\": {\"top_k\": 2, \"n_steps\": 8}}")
                .exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody();
        JsonNode answer = JSON.readTree(bytes);

        JsonNode explanations = answer.get("explanations");
        assertThat(explanations).hasSize(4);
        assertThat(explanations.get(0).get("target").stringValue()).isEqualTo("Pharma-Toxico");
        assertThat(explanations.get(2).get("target").stringValue()).isEqualTo("Oncology");
        JsonNode probabilities = explanations.get(0).get("probabilities");
        String second = explanations.get(1).get("target").stringValue();
        probabilities.properties().forEach(p -> {
            if (!p.getKey().equals("Pharma-Toxico")) {
                assertThat(p.getValue().doubleValue()).isLessThanOrEqualTo(probabilities.get(second).doubleValue());
            }
        });
        JsonNode predicted = explainV2("/v2/models/" + MODEL + "/explain", v2Body("{\"targets\": \"predicted\", \"n_steps\": 8}"));
        assertThat(predicted.at("/outputs/0/shape/0").intValue()).isEqualTo(1);
        client.post().uri("/v2/models/{m}/explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue(v2Body("{\"top_k\": 2, \"target\": \"Oncology\"}"))
                .exchange().expectStatus().isBadRequest();
        client.post().uri("/v2/models/{m}/explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue(v2Body("{\"top_k\": 7}"))
                .exchange().expectStatus().isBadRequest().expectBody().jsonPath("$.error")
                .value(m -> assertThat((String) m).contains("top_k must be an integer between 1 and the model's 6 labels"));
    }

    @Test
    void severalBaselinesAreAveragedAndACustomTextCanBeOne() {
        JsonNode pad = explainV2("/v2/models/" + MODEL + "/explain", v2Body("{\"n_steps\": 8}")).at("/outputs/0/data/0");
        JsonNode mask = explainV2("/v2/models/" + MODEL + "/explain", v2Body("{\"baseline\": \"mask\", \"n_steps\": 8}"))
                .at("/outputs/0/data/0");
        JsonNode both = explainV2("/v2/models/" + MODEL + "/explain", v2Body("{\"baseline\": [\"pad\", \"mask\"], \"n_steps\": 8}"))
                .at("/outputs/0/data/0");

        assertThat(both.get("baseline").toString()).isEqualTo("[\"pad\",\"mask\"]");
        for (int i = 0; i < both.get("importances").size(); i++) {
            // averaged raw attributions, renormalised: compare the V1 raw ones below instead of the importances' scale
            assertThat(both.get("importances").get(i).doubleValue()).isBetween(-1.0, 1.0);
        }
        byte[] v1 = client.post().uri("/v1/models/{m}:explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"" + SEED_TEXT + "\"], \"parameters\": {\"baseline\": [\"pad\", \"mask\"], \"n_steps\": 8}}")
                .exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody();
        byte[] v1Pad = client.post().uri("/v1/models/{m}:explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"" + SEED_TEXT + "\"], \"parameters\": {\"n_steps\": 8}}")
                .exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody();
        byte[] v1Mask = client.post().uri("/v1/models/{m}:explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"" + SEED_TEXT + "\"], \"parameters\": {\"baseline\": \"mask\", \"n_steps\": 8}}")
                .exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody();
        JsonNode a = JSON.readTree(v1).at("/explanations/0/attributions");
        JsonNode p = JSON.readTree(v1Pad).at("/explanations/0/attributions");
        JsonNode m = JSON.readTree(v1Mask).at("/explanations/0/attributions");
        for (int i = 0; i < a.size(); i++) {
            assertThat(a.get(i).doubleValue()).isCloseTo((p.get(i).doubleValue() + m.get(i).doubleValue()) / 2,
                    org.assertj.core.api.Assertions.within(1e-9));
        }
        assertThat(pad.get("importances")).isNotEqualTo(mask.get("importances"));

        JsonNode text = explainV2("/v2/models/" + MODEL + "/explain",
                v2Body("{\"baseline\": \"text\", \"baseline_text\": \"A study of something.\", \"n_steps\": 8}")).at("/outputs/0/data/0");
        assertThat(text.get("baseline").stringValue()).isEqualTo("text");
        client.post().uri("/v2/models/{m}/explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue(v2Body("{\"baseline\": \"text\"}"))
                .exchange().expectStatus().isBadRequest().expectBody().jsonPath("$.error")
                .value(msg -> assertThat((String) msg).contains("baseline text needs baseline_text"));
    }
}
