package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import dev.igate.demo.TinyEncoder;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Tasks other than single-label classification, from config.json: a multi-label classifier
 * ({@code problem_type: multi_label_classification}: every label whose sigmoid reaches 0.5) and a
 * regression model (one output: its value), served over V1 and V2 and explained.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"igate.demo-models=false", "spring.cloud.gateway.server.webflux.routes="})
@AutoConfigureWebTestClient(timeout = "60s")
class TasksIT {

    static final Path REPOSITORY = Path.of("target", "test-models-tasks").toAbsolutePath();
    static final List<String> TOPICS = List.of("biology", "chemistry", "physics", "ecology");
    static final List<String> TEXTS = List.of("Habitat loss drives amphibian decline in the tropics.",
            "Compiler optimisations for vectorised loops", "Risk assessment of oral bioavailability.");
    static final JsonMapper JSON = JsonMapper.builder().build();

    @Autowired
    WebTestClient client;

    @DynamicPropertySource
    static void repository(DynamicPropertyRegistry registry) throws Exception {
        TinyEncoder.write(REPOSITORY.resolve("Topics").resolve("1"), TinyEncoder.model(TinyEncoder.Style.BERT, 17, 21, TOPICS.size()),
                TOPICS, "multi_label_classification");
        TinyEncoder.write(REPOSITORY.resolve("Readability").resolve("1"), TinyEncoder.model(TinyEncoder.Style.DISTILBERT, 14, 8, 1),
                List.of("LABEL_0"), null);
        registry.add("igate.model-repository", REPOSITORY::toString);
    }

    @BeforeEach
    void ready() {
        ServerTestSupport.awaitReady(client, "/v2/models/Topics/ready");
        ServerTestSupport.awaitReady(client, "/v2/models/Readability/ready");
    }

    JsonNode post(String path, String body) {
        byte[] bytes = client.post().uri(path).contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange()
                .expectStatus().isOk().expectBody().returnResult().getResponseBody();
        return JSON.readTree(bytes);
    }

    static String instances() {
        return "{\"instances\": [" + String.join(", ", TEXTS.stream().map(t -> "\"" + t + "\"").toList()) + "]}";
    }

    /** The labels whose sigmoid reaches 0.5 in a plain session's logits, most probable first. */
    static List<String> expectedTopics(String text) throws Exception {
        float[] logits = ExportStylesIT.plainSession(REPOSITORY.resolve("Topics").resolve("1"), text);
        List<Integer> over = new ArrayList<>();
        for (int i = 0; i < logits.length; i++) {
            if (logits[i] >= 0) {
                over.add(i);
            }
        }
        over.sort((a, b) -> Float.compare(logits[b], logits[a]));
        return over.stream().map(TOPICS::get).toList();
    }

    @Test
    void multiLabelPredictListsEveryLabelOverTheThreshold() throws Exception {
        JsonNode predictions = post("/v1/models/Topics:predict", instances()).get("predictions");
        JsonNode detailed = post("/v1/models/Topics:predict?probabilities=true", instances()).get("predictions");

        List<Integer> sizes = new ArrayList<>();
        for (int i = 0; i < TEXTS.size(); i++) {
            List<String> labels = new ArrayList<>();
            predictions.get(i).forEach(n -> labels.add(n.stringValue()));
            assertThat(labels).as(TEXTS.get(i)).isEqualTo(expectedTopics(TEXTS.get(i)));
            sizes.add(labels.size());
            assertThat(detailed.get(i).get("probabilities").size()).isEqualTo(TOPICS.size());
        }
        // the fixture has texts with different numbers of labels, so the threshold decides something
        assertThat(sizes.stream().distinct().count()).isGreaterThan(1);

        JsonNode v2 = post("/v2/models/Topics/infer", """
                {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["%s"]}],
                 "outputs": [{"name": "predict"}, {"name": "probabilities"}]}""".formatted(TEXTS.get(0)));
        assertThat(v2.at("/outputs/0/datatype").stringValue()).isEqualTo("BYTES");
        List<String> fromV2 = new ArrayList<>();
        JSON.readTree(v2.at("/outputs/0/data/0").stringValue()).forEach(n -> fromV2.add(n.stringValue()));
        assertThat(fromV2).isEqualTo(expectedTopics(TEXTS.get(0)));
        assertThat(v2.at("/outputs/1/shape/1").intValue()).isEqualTo(TOPICS.size());
    }

    @Test
    void regressionPredictAnswersTheModelsValue() throws Exception {
        JsonNode predictions = post("/v1/models/Readability:predict", instances()).get("predictions");

        for (int i = 0; i < TEXTS.size(); i++) {
            float expected = ExportStylesIT.plainSession(REPOSITORY.resolve("Readability").resolve("1"), TEXTS.get(i))[0];
            assertThat(predictions.get(i).isNumber()).isTrue();
            assertThat(predictions.get(i).floatValue()).isCloseTo(expected, within(1e-4f));
        }
        JsonNode v2 = post("/v2/models/Readability/infer", """
                {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["%s"]}], "outputs": [{"name": "predict"}]}
                """.formatted(TEXTS.get(0)));
        assertThat(v2.at("/outputs/0/datatype").stringValue()).isEqualTo("FP32");
        assertThat(v2.at("/outputs/0/data/0").floatValue()).isCloseTo(predictions.get(0).floatValue(), within(1e-5f));
        JsonNode metadata = JSON.readTree(client.get().uri("/v2/models/Readability").exchange().expectStatus().isOk()
                .expectBody().returnResult().getResponseBody());
        assertThat(metadata.at("/parameters/task").stringValue()).isEqualTo("regression");
    }

    @Test
    void bothExplainTheirOutputExactly() {
        JsonNode topic = post("/v2/models/Topics/explain", """
                {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["%s"]}],
                 "parameters": {"n_steps": 64, "target": "physics"}}""".formatted(TEXTS.get(1))).at("/outputs/0/data/0");
        JsonNode value = post("/v2/models/Readability/explain", """
                {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["%s"]}],
                 "parameters": {"n_steps": 64}}""".formatted(TEXTS.get(1))).at("/outputs/0/data/0");

        assertThat(topic.get("target").stringValue()).isEqualTo("physics");
        assertThat(topic.get("approximate").booleanValue()).as(topic.toString()).isFalse();
        assertThat(value.get("target").stringValue()).isEqualTo("LABEL_0");
        assertThat(value.get("approximate").booleanValue()).as(value.toString()).isFalse();
        assertThat(value.get("importances").size()).isEqualTo(value.get("words").size());
    }
}
