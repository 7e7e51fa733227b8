package dev.igate.gateway;

import static dev.igate.predictor.onnx.OnnxProtos.floats;
import static dev.igate.predictor.onnx.OnnxProtos.node;
import static dev.igate.predictor.onnx.OnnxProtos.tensorValue;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.igate.demo.TinyClassifier;
import dev.igate.transformer.TextEncoder;
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
 * A per-token model served end to end: a model whose output is {@code [batch, seq, labels]} (a
 * word table looked up by token id, so each token's label is known) goes through the same
 * batcher, data plane and codecs as a text classifier, and answers each text's entities with
 * character offsets into it; only its task class knows it classifies tokens.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"igate.demo-models=false", "spring.cloud.gateway.server.webflux.routes=",
                // texts sent at once may share a run: rows of different lengths in one batch
                "igate.models.Entities.max-batch-delay=50ms",
                // the same model exported with architectures and no problem_type, its strategy set per model
                "igate.models.Tagger.aggregation-strategy=none", "igate.models.Tagger.ignore-labels=O,I-LOC"})
@AutoConfigureWebTestClient(timeout = "60s")
class TokenClassificationIT {

    static final Path REPOSITORY = Path.of("target", "test-models-token-classification").toAbsolutePath();
    static final List<String> LABELS = List.of("O", "B-PER", "I-PER", "B-LOC", "I-LOC");
    static final JsonMapper JSON = JsonMapper.builder().build();

    @Autowired
    WebTestClient client;

    /** Logits by token id: every token O, except john (B-PER), smith (I-PER), new (B-LOC) and york (I-LOC). */
    static ModelProto model(Path tokenizer) throws Exception {
        float[] table = new float[TinyClassifier.VOCAB * LABELS.size()];
        for (int id = 0; id < TinyClassifier.VOCAB; id++) {
            table[id * LABELS.size()] = 5;
        }
        try (TextEncoder encoder = TextEncoder.load(tokenizer, 64)) {
            long[] ids = encoder.encode(List.of("john smith new york")).ids(0);
            for (int word = 0; word < 4; word++) {
                int id = (int) ids[word + 1];
                table[id * LABELS.size()] = 0;
                table[id * LABELS.size() + word + 1] = 5;
            }
        }
        GraphProto graph = GraphProto.newBuilder().setName("entities")
                .addInput(tensorValue("input_ids", TensorProto.DataType.INT64, "batch", "seq"))
                .addInput(tensorValue("attention_mask", TensorProto.DataType.INT64, "batch", "seq"))
                .addOutput(tensorValue("logits", TensorProto.DataType.FLOAT, "batch", "seq", (long) LABELS.size()))
                .addInitializer(floats("table", new long[] {TinyClassifier.VOCAB, LABELS.size()}, table))
                .addNode(node("Gather", "lookup", List.of("table", "input_ids"), List.of("logits"))).build();
        return ModelProto.newBuilder().setIrVersion(7)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13)).setGraph(graph).build();
    }

    @DynamicPropertySource
    static void repository(DynamicPropertyRegistry registry) throws Exception {
        Path version = Files.createDirectories(REPOSITORY.resolve("Entities").resolve("1"));
        try (InputStream in = TokenClassificationIT.class.getResourceAsStream("/all-minilm-l6-v2-tokenizer.json")) {
            Files.copy(in, version.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
        }
        StringBuilder id2label = new StringBuilder();
        for (int i = 0; i < LABELS.size(); i++) {
            id2label.append(i == 0 ? "" : ", ").append('"').append(i).append("\": \"").append(LABELS.get(i)).append('"');
        }
        Files.writeString(version.resolve("config.json"),
                "{\"problem_type\": \"token_classification\", \"max_position_embeddings\": 64, \"id2label\": {" + id2label + "}}\n");
        Files.write(version.resolve("model.onnx"), model(version.resolve("tokenizer.json")).toByteArray());
        Path tagger = Files.createDirectories(REPOSITORY.resolve("Tagger").resolve("1"));
        for (String file : List.of("tokenizer.json", "model.onnx")) {
            Files.copy(version.resolve(file), tagger.resolve(file), StandardCopyOption.REPLACE_EXISTING);
        }
        Files.writeString(tagger.resolve("config.json"), "{\"architectures\": [\"BertForTokenClassification\"], "
                + "\"max_position_embeddings\": 64, \"id2label\": {" + id2label + "}}\n");
        registry.add("igate.model-repository", REPOSITORY::toString);
    }

    JsonNode post(String path, String body) {
        byte[] bytes = client.post().uri(path).contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange()
                .expectStatus().isOk().expectBody().returnResult().getResponseBody();
        return JSON.readTree(bytes);
    }

    @Test
    void v1AnswersEachTextsEntitiesWithOffsetsIntoIt() {
        ServerTestSupport.awaitReady(client, "/v2/models/Entities/ready");
        String first = "John Smith lives in New York";
        String second = "In 🍰 New York";

        JsonNode predictions = post("/v1/models/Entities:predict",
                "{\"instances\": [\"" + first + "\", \"" + second + "\"]}").get("predictions");

        assertThat(predictions).hasSize(2);
        JsonNode john = predictions.get(0).get(0);
        assertThat(john.get("entity_group").asString()).isEqualTo("PER");
        assertThat(john.get("word").asString()).isEqualTo("John Smith");
        assertThat(first.substring(john.get("start").asInt(), john.get("end").asInt())).isEqualTo("John Smith");
        assertThat(predictions.get(0).get(1).get("word").asString()).isEqualTo("New York");
        // after the emoji, offsets count code points (as Python does): one less than Java's chars
        JsonNode york = predictions.get(1).get(0);
        assertThat(york.get("start").asInt()).isEqualTo(second.indexOf("New") - 1);
        assertThat(york.get("score").floatValue()).isGreaterThan(0.9f);
    }

    @Test
    void v2AnswersEntitiesAsJsonPerTextAndTheLogitsPerToken() {
        ServerTestSupport.awaitReady(client, "/v2/models/Entities/ready");

        JsonNode outputs = post("/v2/models/Entities/infer", """
                {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["John Smith", "not a name at all here"]}],
                 "outputs": [{"name": "predict"}, {"name": "logits"}]}
                """).get("outputs");

        Map<String, JsonNode> byName = Map.of(outputs.get(0).get("name").asString(), outputs.get(0),
                outputs.get(1).get("name").asString(), outputs.get(1));
        JsonNode predict = byName.get("predict");
        assertThat(predict.get("datatype").asString()).isEqualTo("BYTES");
        assertThat(JSON.readTree(predict.get("data").get(0).asString()).get(0).get("word").asString()).isEqualTo("John Smith");
        assertThat(JSON.readTree(predict.get("data").get(1).asString())).isEmpty();
        // [CLS] not a name at all here [SEP]: 8 tokens, the shorter text padded to them
        assertThat(byName.get("logits").get("shape")).extracting(JsonNode::asInt).containsExactly(2, 8, LABELS.size());
    }

    @Test
    void concurrentTextsOfDifferentLengthsEachGetTheirOwnEntities() throws Exception {
        ServerTestSupport.awaitReady(client, "/v2/models/Entities/ready");
        List<String> texts = List.of("John Smith", "a much longer text before New York and John Smith");

        List<JsonNode> answers = texts.parallelStream().map(t -> post("/v1/models/Entities:predict",
                "{\"instances\": [\"" + t + "\"]}").get("predictions").get(0)).toList();

        assertThat(answers.get(0)).extracting(e -> e.get("word").asString()).containsExactly("John Smith");
        assertThat(answers.get(1)).extracting(e -> e.get("word").asString()).containsExactly("New York", "John Smith");
    }

    @Test
    void aRequestPicksTheAggregationStrategyAndTheLabelsLeftOutOnV1AndV2() {
        ServerTestSupport.awaitReady(client, "/v2/models/Entities/ready");

        JsonNode tokens = post("/v1/models/Entities:predict",
                "{\"instances\": [\"John Smith\"], \"parameters\": {\"aggregation_strategy\": \"none\"}}").get("predictions").get(0);
        assertThat(tokens).extracting(e -> e.get("entity").asString()).containsExactly("B-PER", "I-PER");
        assertThat(tokens).extracting(e -> e.get("word").asString()).containsExactly("John", "Smith");

        JsonNode outputs = post("/v2/models/Entities/infer", """
                {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["John Smith in New York"]}],
                 "parameters": {"ignore_labels": ["PER"]}}
                """).get("outputs");
        JsonNode entities = JSON.readTree(outputs.get(0).get("data").get(0).asString());
        assertThat(entities).extracting(e -> e.get("entity_group").asString()).containsExactly("O", "LOC");

        client.post().uri("/v1/models/Entities:predict").contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"John\"], \"parameters\": {\"aggregation_strategy\": \"longest\"}}").exchange()
                .expectStatus().isBadRequest().expectBody().jsonPath("$.error")
                .value(m -> assertThat((String) m).contains("aggregation_strategy").contains("longest"));
    }

    @Test
    void aModelExportedForTokenClassificationIsServedAsOneWithItsOwnDefaults() {
        ServerTestSupport.awaitReady(client, "/v2/models/Tagger/ready");

        byte[] metadata = client.get().uri("/v2/models/Tagger").exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody();
        assertThat(JSON.readTree(metadata).get("parameters").get("task").asString()).isEqualTo("token_classification");
        // aggregation none and O, I-LOC left out, from the model's settings
        JsonNode tokens = post("/v1/models/Tagger:predict", "{\"instances\": [\"John Smith in New York\"]}").get("predictions").get(0);
        assertThat(tokens).extracting(e -> e.get("entity").asString()).containsExactly("B-PER", "I-PER", "B-LOC");
    }

    @Test
    void anEntitysExplanationFallsOnItsOwnTokensWhenEachTokensLogitsAreItsOwn() {
        ServerTestSupport.awaitReady(client, "/v2/models/Entities/ready");

        // the table model's logits of a token are that token's row: the second entity (New York) owes everything to its tokens
        JsonNode e = post("/v1/models/Entities:explain",
                "{\"instances\": [\"John Smith in New York\"], \"parameters\": {\"entity\": 1, \"n_steps\": 16}}").get("explanations").get(0);

        assertThat(e.get("target").asString()).isEqualTo("LOC");
        List<String> words = new java.util.ArrayList<>();
        e.get("words").forEach(w -> words.add(w.asString()));
        for (int i = 0; i < words.size(); i++) {
            double importance = Math.abs(e.get("importances").get(i).doubleValue());
            if (words.get(i).equals("new") || words.get(i).equals("york")) {
                assertThat(importance).as(words.get(i)).isGreaterThan(0.1);
            } else {
                assertThat(importance).as(words.get(i)).isLessThan(1e-6);
            }
        }
        // an entity the text does not have is a 400 naming it
        client.post().uri("/v1/models/Entities:explain").contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"John Smith\"], \"parameters\": {\"entity\": 3}}").exchange()
                .expectStatus().isBadRequest().expectBody().jsonPath("$.error").value(m -> assertThat((String) m).contains("not an index"));
    }
}
