package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

import dev.igate.demo.TaskDemos;
import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.SessionSettings;
import dev.igate.protocol.Tensor;
import dev.igate.transformer.TextEncoder;
import dev.igate.transformer.TokenBatch;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
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
 * The task demo models served end to end (issue 26): sentence pairs on V1 and V2 (both ways V2
 * sends them), zero-shot classification and reranking, each answer checked against the same
 * model run by a plain ONNX Runtime session on the same tokens, and the refusals that name what
 * is wrong; each task over gRPC and Kafka too; text-embeddings-inference's and the HuggingFace
 * Inference API's shapes.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"igate.demo-models=false", "spring.cloud.gateway.server.webflux.routes=", "igate.grpc.port=0",
                "igate.kafka.group-id=igate-tasks", "igate.explainer.cache-max-bytes=4MB"})
@AutoConfigureWebTestClient(timeout = "60s")
class TaskModelsIT {

    static final Path REPOSITORY = Path.of("target", "task-models").toAbsolutePath();
    static final JsonMapper JSON = JsonMapper.builder().build();
    static final String TEXT = "Chronic cadmium exposure damaged the kidney of Wistar rats.";
    static final List<String> TOPICS = List.of("toxicology", "computer science", "ecology");

    static TextEncoder tokenizer;
    static OnnxModel nli;
    static OnnxModel crossEncoder;

    @Autowired
    WebTestClient client;

    @Autowired
    dev.igate.gateway.grpc.GrpcServer grpc;

    static org.springframework.kafka.test.EmbeddedKafkaKraftBroker broker;

    @DynamicPropertySource
    static void repository(DynamicPropertyRegistry registry) throws Exception {
        TaskDemos.ensure(REPOSITORY);
        registry.add("igate.model-repository", REPOSITORY::toString);
        if (broker == null) {
            broker = new org.springframework.kafka.test.EmbeddedKafkaKraftBroker(1, 1, "igate-input", "igate-output", "igate-dead-letter");
            broker.afterPropertiesSet();
        }
        registry.add("igate.kafka.bootstrap-servers", broker::getBrokersAsString);
    }

    @BeforeAll
    static void referenceSessions() throws Exception {
        TaskDemos.ensure(REPOSITORY);
        SessionSettings one = new SessionSettings("cpu", 1, 1, "all");
        Path pair = REPOSITORY.resolve(TaskDemos.PAIR_MODEL).resolve("1");
        tokenizer = TextEncoder.load(pair.resolve("tokenizer.json"), 128);
        nli = OnnxModel.load(pair.resolve("model.onnx"), one);
        crossEncoder = OnnxModel.load(REPOSITORY.resolve(TaskDemos.CROSS_ENCODER).resolve("1").resolve("model.onnx"), one);
    }

    @AfterAll
    static void close() {
        tokenizer.close();
        nli.close();
        crossEncoder.close();
    }

    /** The logits of pairs, as a plain session computes them: one row per pair. */
    static float[][] logits(OnnxModel model, List<String> texts, List<String> pairs, TextEncoder.Truncation truncation) {
        TokenBatch batch = tokenizer.encodePairs(texts, pairs, truncation);
        Tensor out = model.run(model.tokenFeeds(new long[] {batch.rows(), batch.length()}, batch.inputIds(), batch.attentionMask(),
                batch.typeIds()), List.of("logits")).get(0);
        int width = (int) out.shape()[1];
        float[][] rows = new float[texts.size()][];
        for (int r = 0; r < rows.length; r++) {
            rows[r] = Arrays.copyOfRange(out.floats(), r * width, (r + 1) * width);
        }
        return rows;
    }

    JsonNode post(String path, String body) {
        byte[] bytes = client.post().uri(path).contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange()
                .expectStatus().isOk().expectBody().returnResult().getResponseBody();
        return JSON.readTree(bytes);
    }

    String refused(String path, String body) {
        byte[] bytes = client.post().uri(path).contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange()
                .expectStatus().isBadRequest().expectBody().returnResult().getResponseBody();
        return JSON.readTree(bytes).get("error").asString();
    }

    void ready() {
        for (String model : List.of(TaskDemos.PAIR_MODEL, TaskDemos.CROSS_ENCODER, TaskDemos.TOKEN_MODEL)) {
            ServerTestSupport.awaitReady(client, "/v2/models/" + model + "/ready");
        }
    }

    @Test
    void pairsAreClassifiedAsThePairEncodingOfAPlainSessionOnV1AndBothV2Forms() {
        ready();
        List<String> hypotheses = List.of("This example is about toxicology.", "This example is about computer science.");
        float[][] expected = logits(nli, List.of(TEXT, TEXT), hypotheses, TextEncoder.Truncation.LONGEST_FIRST);

        JsonNode v1 = post("/v1/models/" + TaskDemos.PAIR_MODEL + ":predict?probabilities=true", """
                {"instances": [{"text": "%s", "text_pair": "%s"}, {"text": "%s", "text_pair": "%s"}]}
                """.formatted(TEXT, hypotheses.get(0), TEXT, hypotheses.get(1))).get("predictions");
        assertThat(v1.get(0).get("label").asString()).isEqualTo("entailment");
        assertThat(v1.get(1).get("label").asString()).isEqualTo("contradiction");

        String wrapped = "{\\\"text\\\": \\\"%s\\\", \\\"text_pair\\\": \\\"%s\\\"}";
        JsonNode jsonInBytes = post("/v2/models/" + TaskDemos.PAIR_MODEL + "/infer", """
                {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["%s", "%s"]}],
                 "outputs": [{"name": "predict"}, {"name": "logits"}]}
                """.formatted(wrapped.formatted(TEXT, hypotheses.get(0)), wrapped.formatted(TEXT, hypotheses.get(1)))).get("outputs");
        JsonNode twoInputs = post("/v2/models/" + TaskDemos.PAIR_MODEL + "/infer", """
                {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["%s", "%s"]},
                            {"name": "text_pair", "shape": [2], "datatype": "BYTES", "data": ["%s", "%s"]}],
                 "outputs": [{"name": "predict"}, {"name": "logits"}]}
                """.formatted(TEXT, TEXT, hypotheses.get(0), hypotheses.get(1))).get("outputs");
        for (JsonNode outputs : List.of(jsonInBytes, twoInputs)) {
            assertThat(outputs.get(0).get("data").get(0).asString()).isEqualTo("entailment");
            assertThat(outputs.get(1).get("shape").toString()).isEqualTo("[2,3]");
            for (int r = 0; r < 2; r++) {
                for (int c = 0; c < 3; c++) {
                    assertThat(outputs.get(1).get("data").get(r * 3 + c).floatValue()).isCloseTo(expected[r][c], within(1e-4f));
                }
            }
        }
    }

    @Test
    void zeroShotScoresAreTheNliComputationDoneByHand() {
        ready();
        List<String> hypotheses = TOPICS.stream().map(t -> "This example is " + t + ".").toList();
        float[][] logits = logits(nli, List.of(TEXT, TEXT, TEXT), hypotheses, TextEncoder.Truncation.ONLY_FIRST);
        // single-label: a softmax of the entailment logits (label 0) across the candidates
        double[] e = new double[3];
        double sum = 0;
        for (int c = 0; c < 3; c++) {
            e[c] = Math.exp(logits[c][0]);
            sum += e[c];
        }

        JsonNode answer = post("/v1/models/" + TaskDemos.PAIR_MODEL + ":predict", """
                {"instances": ["%s"], "parameters": {"candidate_labels": ["toxicology", "computer science", "ecology"]}}
                """.formatted(TEXT)).get("predictions").get(0);

        assertThat(answer.get("sequence").asString()).isEqualTo(TEXT);
        assertThat(answer.get("labels").get(0).asString()).isEqualTo("toxicology");
        double previous = 1;
        for (int k = 0; k < 3; k++) {
            int c = TOPICS.indexOf(answer.get("labels").get(k).asString());
            double score = answer.get("scores").get(k).doubleValue();
            assertThat(score).isCloseTo(e[c] / sum, within(1e-5)).isLessThanOrEqualTo(previous);
            previous = score;
        }

        // multi-label: each label on its own, a softmax over its contradiction (label 2) and entailment logits
        JsonNode multi = post("/v2/models/" + TaskDemos.PAIR_MODEL + "/infer", """
                {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["%s"]}],
                 "parameters": {"candidate_labels": "toxicology, computer science,ecology", "multi_label": true,
                                "hypothesis_template": "This example is {}."}}
                """.formatted(TEXT)).get("outputs").get(0);
        JsonNode row = JSON.readTree(multi.get("data").get(0).asString());
        for (int k = 0; k < 3; k++) {
            int c = TOPICS.indexOf(row.get("labels").get(k).asString());
            assertThat(row.get("scores").get(k).doubleValue()).isCloseTo(1 / (1 + Math.exp(logits[c][2] - logits[c][0])), within(1e-5));
        }
    }

    @Test
    void rerankOrdersTextsAsTheArgsortOfTheCrossEncodersLogits() {
        ready();
        List<String> texts = List.of("Dopamine neurons encode reward prediction errors in the striatum.",
                "Hepatic enzyme induction by rifampicin lowers plasma levels of co-administered drugs.",
                "A lock-free hash table scales to many cores.",
                "Chronic arsenic exposure and skin lesions in a cohort of rice farmers.");
        String query = "liver toxicity of drugs";
        float[][] logits = logits(crossEncoder, List.of(query, query, query, query), texts, TextEncoder.Truncation.LONGEST_FIRST);
        List<Integer> order = new ArrayList<>(List.of(0, 1, 2, 3));
        order.sort(Comparator.comparingDouble(i -> -logits[i][0]));

        JsonNode ranked = post("/v1/models/" + TaskDemos.CROSS_ENCODER + ":predict", """
                {"instances": ["%s", "%s", "%s", "%s"], "parameters": {"query": "%s", "top_n": 3, "return_text": true}}
                """.formatted(texts.get(0), texts.get(1), texts.get(2), texts.get(3), query)).get("predictions");

        assertThat(ranked).hasSize(3);
        for (int k = 0; k < 3; k++) {
            int i = order.get(k);
            assertThat(ranked.get(k).get("index").asInt()).isEqualTo(i);
            assertThat(ranked.get(k).get("text").asString()).isEqualTo(texts.get(i));
            assertThat(ranked.get(k).get("score").doubleValue()).isCloseTo(1 / (1 + Math.exp(-logits[i][0])), within(1e-5));
        }
        JsonNode raw = post("/v2/models/" + TaskDemos.CROSS_ENCODER + "/infer", """
                {"inputs": [{"name": "text", "shape": [4], "datatype": "BYTES", "data": ["%s", "%s", "%s", "%s"]}],
                 "parameters": {"query": "%s", "raw_scores": true}}
                """.formatted(texts.get(0), texts.get(1), texts.get(2), texts.get(3), query)).get("outputs").get(0);
        assertThat(raw.get("shape").toString()).isEqualTo("[4]");
        JsonNode best = JSON.readTree(raw.get("data").get(0).asString());
        assertThat(best.get("index").asInt()).isEqualTo(order.get(0));
        assertThat(best.has("text")).isFalse();
        assertThat(best.get("score").doubleValue()).isCloseTo(logits[order.get(0)][0], within(1e-4));
    }

    @Test
    void requestsATaskCannotServeAre400sNamingWhatIsWrong() {
        ready();
        assertThat(refused("/v1/models/" + TaskDemos.TOKEN_MODEL + ":predict",
                "{\"instances\": [{\"text\": \"a\", \"text_pair\": \"b\"}]}")).contains("reads single texts, not pairs");
        assertThat(refused("/v1/models/" + TaskDemos.PAIR_MODEL + ":predict",
                "{\"instances\": [{\"text\": \"a\", \"text_pair\": \"b\"}, \"c\"]}")).contains("every instance has a \"text_pair\"");
        assertThat(refused("/v1/models/" + TaskDemos.PAIR_MODEL + ":predict",
                "{\"instances\": [\"a\"], \"parameters\": {\"candidate_labels\": []}}")).contains("at least one label");
        assertThat(refused("/v1/models/" + TaskDemos.PAIR_MODEL + ":predict",
                "{\"instances\": [\"a\"], \"parameters\": {\"candidate_labels\": [\"x\"], \"hypothesis_template\": \"No slot.\"}}"))
                .contains("was not able to be formatted");
        assertThat(refused("/v1/models/" + TaskDemos.TOKEN_MODEL + ":predict",
                "{\"instances\": [\"a\"], \"parameters\": {\"candidate_labels\": [\"x\"]}}")).contains("not an NLI model");
        assertThat(refused("/v1/models/" + TaskDemos.CROSS_ENCODER + ":predict",
                "{\"instances\": [\"a\"], \"parameters\": {\"query\": \"  \"}}")).contains("query must be a non-empty string");
        assertThat(refused("/v1/models/" + TaskDemos.PAIR_MODEL + ":predict",
                "{\"instances\": [\"a\"], \"parameters\": {\"query\": \"q\"}}")).contains("is not a cross-encoder");
        assertThat(refused("/v1/models/" + TaskDemos.PAIR_MODEL + ":predict",
                "{\"instances\": [{\"text\": \"a\", \"text_pair\": \"b\"}], \"parameters\": {\"truncation\": \"middle_out\"}}"))
                .contains("truncation must be longest_first, only_first or only_second");
        String longText = "word ".repeat(300);
        assertThat(refused("/v1/models/" + TaskDemos.PAIR_MODEL + ":predict",
                "{\"instances\": [{\"text\": \"" + longText + "\", \"text_pair\": \"b\"}], \"parameters\": {\"truncation\": false}}"))
                .contains("Pair 0 is longer than the model's 128 tokens");
        // the server keeps serving
        assertThat(post("/v1/models/" + TaskDemos.PAIR_MODEL + ":predict",
                "{\"instances\": [{\"text\": \"" + longText + "\", \"text_pair\": \"b\"}], \"parameters\": {\"truncation\": \"only_first\"}}")
                .get("predictions")).hasSize(1);
    }

    @Test
    void metadataNamesEachModelsTaskAndWhatElseItServes() {
        ready();
        JsonNode nliMeta = JSON.readTree(client.get().uri("/v2/models/" + TaskDemos.PAIR_MODEL).exchange().expectStatus().isOk()
                .expectBody().returnResult().getResponseBody()).get("parameters");
        assertThat(nliMeta.get("task").asString()).isEqualTo("single_label_classification");
        assertThat(nliMeta.get("pairs").asBoolean()).isTrue();
        assertThat(nliMeta.get("zero_shot").asBoolean()).isTrue();
        JsonNode ce = JSON.readTree(client.get().uri("/v2/models/" + TaskDemos.CROSS_ENCODER).exchange().expectStatus().isOk()
                .expectBody().returnResult().getResponseBody()).get("parameters");
        assertThat(ce.get("rerank").asBoolean()).isTrue();
        JsonNode ner = JSON.readTree(client.get().uri("/v2/models/" + TaskDemos.TOKEN_MODEL).exchange().expectStatus().isOk()
                .expectBody().returnResult().getResponseBody()).get("parameters");
        assertThat(ner.get("task").asString()).isEqualTo("token_classification");
        assertThat(ner.has("pairs")).isFalse();
    }

    @Test
    void demoEntitiesAreExactSlicesOfTheTextUnderEveryAggregationStrategy() {
        ready();
        String text = "Sprague-Dawley rats given 50 mg/kg of cadmium chloride developed kidney lesions.";
        for (String strategy : List.of("none", "simple", "first", "average", "max")) {
            JsonNode entities = post("/v1/models/" + TaskDemos.TOKEN_MODEL + ":predict", """
                    {"instances": ["%s"], "parameters": {"aggregation_strategy": "%s"}}
                    """.formatted(text, strategy)).get("predictions").get(0);
            assertThat(entities).as(strategy).isNotEmpty();
            for (JsonNode e : entities) {
                assertThat(text.substring(e.get("start").asInt(), e.get("end").asInt())).as(strategy).isEqualTo(e.get("word").asString());
            }
        }
        // the model's own strategy (first, from its model-settings.json): whole entities of the four kinds
        JsonNode entities = post("/v1/models/" + TaskDemos.TOKEN_MODEL + ":predict", "{\"instances\": [\"" + text + "\"]}")
                .get("predictions").get(0);
        List<String> found = new ArrayList<>();
        entities.forEach(e -> found.add(e.get("entity_group").asString() + ":" + e.get("word").asString()));
        assertThat(found).containsExactly("SPECIES:Sprague-Dawley rats", "DOSE:50 mg/kg", "CHEMICAL:cadmium chloride", "ORGAN:kidney");
    }

    JsonNode answer(String path, String body, int status) {
        byte[] bytes = client.post().uri(path).contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange()
                .expectStatus().isEqualTo(status).expectBody().returnResult().getResponseBody();
        return JSON.readTree(bytes);
    }

    @Test
    void teiPredictAndRerankAnswerAsTextEmbeddingsInferenceDoes() {
        ready();
        String hypothesis = "This example is about toxicology.";
        float[][] logits = logits(nli, List.of(TEXT, TEXT), List.of(hypothesis, "The paper has five figures."),
                TextEncoder.Truncation.LONGEST_FIRST);

        // a pair: every label with its softmax score, highest first
        JsonNode single = answer("/tei/" + TaskDemos.PAIR_MODEL + "/predict",
                "{\"inputs\": [\"" + TEXT + "\", \"" + hypothesis + "\"]}", 200);
        assertThat(single).hasSize(3);
        assertThat(single.get(0).get("label").asString()).isEqualTo("entailment");
        double sum = Math.exp(logits[0][0]) + Math.exp(logits[0][1]) + Math.exp(logits[0][2]);
        assertThat(single.get(0).get("score").doubleValue()).isCloseTo(Math.exp(logits[0][0]) / sum, within(1e-5));
        // a batch of pairs, raw logits
        JsonNode batch = answer("/tei/" + TaskDemos.PAIR_MODEL + "/predict", "{\"inputs\": [[\"" + TEXT + "\", \"" + hypothesis
                + "\"], [\"" + TEXT + "\", \"The paper has five figures.\"]], \"raw_scores\": true}", 200);
        assertThat(batch).hasSize(2);
        assertThat(batch.get(1).get(0).get("label").asString()).isEqualTo("neutral");
        assertThat(batch.get(1).get(0).get("score").doubleValue()).isCloseTo(logits[1][1], within(1e-4));

        JsonNode ranked = answer("/tei/" + TaskDemos.CROSS_ENCODER + "/rerank", """
                {"query": "cancer therapy", "texts": ["A lock-free hash table scales to many cores.",
                 "Immunotherapy prolongs survival in metastatic melanoma."], "return_text": true}
                """, 200);
        assertThat(ranked.get(0).get("index").asInt()).isEqualTo(1);
        assertThat(ranked.get(0).get("text").asString()).startsWith("Immunotherapy");
        assertThat(ranked.get(0).get("score").doubleValue()).isBetween(0.0, 1.0);

        JsonNode info = JSON.readTree(client.get().uri("/tei/" + TaskDemos.CROSS_ENCODER + "/info").exchange().expectStatus().isOk()
                .expectBody().returnResult().getResponseBody());
        assertThat(info.get("model_type").has("reranker")).isTrue();
        assertThat(info.get("max_input_length").asInt()).isEqualTo(128);
    }

    @Test
    void teiRefusalsCarryItsErrorTypesAndStatuses() {
        ready();
        JsonNode empty = answer("/tei/" + TaskDemos.CROSS_ENCODER + "/rerank", "{\"query\": \"q\", \"texts\": []}", 400);
        assertThat(empty.get("error_type").asString()).isEqualTo("Empty");
        JsonNode notReranker = answer("/tei/" + TaskDemos.PAIR_MODEL + "/rerank", "{\"query\": \"q\", \"texts\": [\"a\"]}", 424);
        assertThat(notReranker.get("error_type").asString()).isEqualTo("Backend");
        assertThat(notReranker.get("error").asString()).contains("not a re-ranker");
        JsonNode tooLong = answer("/tei/" + TaskDemos.PAIR_MODEL + "/predict",
                "{\"inputs\": \"" + "word ".repeat(300) + "\", \"truncate\": false}", 422);
        assertThat(tooLong.get("error_type").asString()).isEqualTo("Validation");
        assertThat(tooLong.get("error").asString()).contains("longer than the model's 128 tokens");
        JsonNode threeTexts = answer("/tei/" + TaskDemos.PAIR_MODEL + "/predict", "{\"inputs\": [\"a\", \"b\", \"c\"]}", 422);
        assertThat(threeTexts.get("error").asString()).contains("[text, text_pair]");
        assertThat(answer("/tei/" + TaskDemos.TOKEN_MODEL + "/predict", "{\"inputs\": \"a\"}", 424).get("error").asString())
                .contains("not a classifier model");
    }

    @Test
    void huggingFaceInferenceApiAnswersEachTaskInTheShapeItsClientParses() {
        ready();
        // zero-shot: [{label, score}] sorted, the scores V1's zero-shot gives
        JsonNode zeroShot = answer("/models/" + TaskDemos.PAIR_MODEL, """
                {"inputs": "%s", "parameters": {"candidate_labels": ["ecology", "toxicology"], "multi_label": false}}
                """.formatted(TEXT), 200);
        JsonNode v1 = post("/v1/models/" + TaskDemos.PAIR_MODEL + ":predict", """
                {"instances": ["%s"], "parameters": {"candidate_labels": ["ecology", "toxicology"]}}
                """.formatted(TEXT)).get("predictions").get(0);
        assertThat(zeroShot.get(0).get("label").asString()).isEqualTo("toxicology").isEqualTo(v1.get("labels").get(0).asString());
        assertThat(zeroShot.get(0).get("score").doubleValue()).isCloseTo(v1.get("scores").get(0).doubleValue(), within(1e-6));
        assertThat(answer("/models/" + TaskDemos.PAIR_MODEL, "{\"inputs\": \"" + TEXT + "\"}", 400).get("error").asString())
                .contains("candidate_labels");

        // token classification: the entities, flat (the model's own aggregation strategy, first)
        JsonNode entities = answer("/models/" + TaskDemos.TOKEN_MODEL, """
                {"inputs": "Wistar rats given 10 mg/kg/day of benzene developed liver lesions.", "parameters": {"ignore_labels": ["O"]}}
                """, 200);
        assertThat(entities.isArray()).isTrue();
        assertThat(entities.get(0).get("entity_group").asString()).isEqualTo("SPECIES");
        assertThat(entities.get(0).get("word").asString()).isEqualTo("Wistar rats");

        // text classification of a pair: a list of lists, top_k of them, function_to_apply none gives the logits
        float[][] logits = logits(nli, List.of(TEXT), List.of("This example is about toxicology."), TextEncoder.Truncation.LONGEST_FIRST);
        JsonNode classes = answer("/models/" + TaskDemos.PAIR_MODEL, """
                {"inputs": {"text": "%s", "text_pair": "This example is about toxicology."}, "parameters": {"top_k": 2, "function_to_apply": "none"}}
                """.formatted(TEXT), 200);
        assertThat(classes).hasSize(1);
        assertThat(classes.get(0)).hasSize(2);
        assertThat(classes.get(0).get(0).get("label").asString()).isEqualTo("entailment");
        assertThat(classes.get(0).get(0).get("score").doubleValue()).isCloseTo(logits[0][0], within(1e-4));
        assertThat(answer("/models/" + TaskDemos.PAIR_MODEL, """
                {"inputs": {"text": "a", "text_pair": "b"}, "parameters": {"function_to_apply": "tanh"}}
                """, 400).get("error").asString()).contains("function_to_apply must be softmax, sigmoid or none");
    }

    @Test
    void everyTaskIsServedOverGrpcAsOverRest() throws Exception {
        ready();
        io.grpc.ManagedChannel channel = GrpcClients.channel(grpc.port());
        try {
            var stub = dev.igate.grpc.v2.GRPCInferenceServiceGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(60, java.util.concurrent.TimeUnit.SECONDS);
            // entities
            Tensor text = Tensor.ofStrings("text", new long[] {1}, "Wistar rats given 10 mg/kg/day of benzene developed liver lesions.");
            JsonNode entities = JSON.readTree(grpcFirst(stub.modelInfer(request(TaskDemos.TOKEN_MODEL, Map.of(), text))));
            assertThat(entities.get(0).get("entity_group").asString()).isEqualTo("SPECIES");
            // a pair, as a second BYTES input
            Tensor premise = Tensor.ofStrings("text", new long[] {1}, TEXT);
            Tensor hypothesis = Tensor.ofStrings("text_pair", new long[] {1}, "This example is about toxicology.");
            assertThat(grpcFirst(stub.modelInfer(request(TaskDemos.PAIR_MODEL, Map.of(), premise, hypothesis)))).isEqualTo("entailment");
            // zero-shot: candidate labels as a string parameter, multi_label as a bool
            JsonNode zeroShot = JSON.readTree(grpcFirst(stub.modelInfer(request(TaskDemos.PAIR_MODEL,
                    Map.of("candidate_labels", dev.igate.grpc.v2.InferParameter.newBuilder().setStringParam("[\"ecology\", \"toxicology\"]").build(),
                            "multi_label", dev.igate.grpc.v2.InferParameter.newBuilder().setBoolParam(true).build()), premise))));
            assertThat(zeroShot.get("labels").get(0).asString()).isEqualTo("toxicology");
            // rerank: the query as a parameter, top_n an integer
            Tensor texts = Tensor.ofStrings("text", new long[] {2}, "A lock-free hash table scales to many cores.",
                    "Immunotherapy prolongs survival in metastatic melanoma.");
            JsonNode best = JSON.readTree(grpcFirst(stub.modelInfer(request(TaskDemos.CROSS_ENCODER,
                    Map.of("query", dev.igate.grpc.v2.InferParameter.newBuilder().setStringParam("cancer therapy").build(),
                            "top_n", dev.igate.grpc.v2.InferParameter.newBuilder().setInt64Param(1).build()), texts))));
            assertThat(best.get("index").asInt()).isEqualTo(1);
            // explanations: an entity by index, a pair as two BYTES inputs
            var explain = dev.igate.grpc.v2.GRPCExplainServiceGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(60, java.util.concurrent.TimeUnit.SECONDS);
            JsonNode entity = JSON.readTree(grpcFirst(explain.modelExplain(request(TaskDemos.TOKEN_MODEL,
                    Map.of("entity", dev.igate.grpc.v2.InferParameter.newBuilder().setInt64Param(2).build(),
                            "n_steps", dev.igate.grpc.v2.InferParameter.newBuilder().setInt64Param(16).build()), text))));
            assertThat(entity.get("target").asString()).isEqualTo("CHEMICAL");
            JsonNode pair = JSON.readTree(grpcFirst(explain.modelExplain(request(TaskDemos.PAIR_MODEL,
                    Map.of("n_steps", dev.igate.grpc.v2.InferParameter.newBuilder().setInt64Param(16).build()), premise, hypothesis))));
            assertThat(pair.get("segment")).hasSize(pair.get("words").size());
        } finally {
            channel.shutdownNow().awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    static dev.igate.grpc.v2.ModelInferRequest request(String model, Map<String, dev.igate.grpc.v2.InferParameter> parameters, Tensor... inputs) {
        var r = dev.igate.grpc.v2.ModelInferRequest.newBuilder().setModelName(model).putAllParameters(parameters);
        for (Tensor t : inputs) {
            r.addInputs(GrpcIT.input(t).setContents(dev.igate.grpc.GrpcCodec.contents(t)));
        }
        return r.build();
    }

    /** The first element of the answer's predict output. */
    static String grpcFirst(dev.igate.grpc.v2.ModelInferResponse response) {
        return dev.igate.grpc.GrpcCodec.decodeOutputs(response).get(0).strings()[0];
    }

    @Test
    void everyTaskIsServedOverKafka() throws Exception {
        ready();
        String run = "tasks-" + java.util.UUID.randomUUID() + "-";
        java.util.Properties p = new java.util.Properties();
        p.put("bootstrap.servers", broker.getBrokersAsString());
        try (var producer = new org.apache.kafka.clients.producer.KafkaProducer<byte[], byte[]>(p,
                new org.apache.kafka.common.serialization.ByteArraySerializer(), new org.apache.kafka.common.serialization.ByteArraySerializer())) {
            send(producer, run + "ner", TaskDemos.TOKEN_MODEL, "v1",
                    "{\"instances\": [\"Wistar rats given 10 mg/kg/day of benzene developed liver lesions.\"]}");
            send(producer, run + "pair", TaskDemos.PAIR_MODEL, "v1",
                    "{\"instances\": [{\"text\": \"" + TEXT + "\", \"text_pair\": \"This example is about toxicology.\"}]}");
            send(producer, run + "zero-shot", TaskDemos.PAIR_MODEL, "v2", "{\"inputs\": [{\"name\": \"text\", \"shape\": [1], "
                    + "\"datatype\": \"BYTES\", \"data\": [\"" + TEXT + "\"]}], \"parameters\": {\"candidate_labels\": \"ecology,toxicology\"}}");
            send(producer, run + "rerank", TaskDemos.CROSS_ENCODER, "v1", "{\"instances\": [\"A lock-free hash table scales to many cores.\", "
                    + "\"Immunotherapy prolongs survival in metastatic melanoma.\"], \"parameters\": {\"query\": \"cancer therapy\"}}");
            send(producer, run + "bad-pair", TaskDemos.TOKEN_MODEL, "v1", "{\"instances\": [{\"text\": \"a\", \"text_pair\": \"b\"}]}");
            producer.flush();
        }
        Map<String, JsonNode> answers = new java.util.HashMap<>();
        p.put("group.id", "reader-" + java.util.UUID.randomUUID());
        p.put("auto.offset.reset", "earliest");
        try (var consumer = new org.apache.kafka.clients.consumer.KafkaConsumer<byte[], byte[]>(p,
                new org.apache.kafka.common.serialization.ByteArrayDeserializer(), new org.apache.kafka.common.serialization.ByteArrayDeserializer())) {
            consumer.subscribe(List.of("igate-output", "igate-dead-letter"));
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(60)).until(() -> {
                for (var r : consumer.poll(java.time.Duration.ofMillis(200))) {
                    String key = new String(r.key(), java.nio.charset.StandardCharsets.UTF_8);
                    if (key.startsWith(run)) {
                        // a dead letter is the record as it came, the error in its igate-error header
                        var error = r.headers().lastHeader("igate-error");
                        answers.put(key.substring(run.length()), error == null ? JSON.readTree(r.value())
                                : JSON.createObjectNode().put("error", new String(error.value(), java.nio.charset.StandardCharsets.UTF_8)));
                    }
                }
                return answers.size() == 5;
            });
        }
        assertThat(answers.get("ner").at("/predictions/0/0/entity_group").asString()).isEqualTo("SPECIES");
        assertThat(answers.get("pair").at("/predictions/0").asString()).isEqualTo("entailment");
        assertThat(JSON.readTree(answers.get("zero-shot").at("/outputs/0/data/0").asString()).at("/labels/0").asString())
                .isEqualTo("toxicology");
        assertThat(answers.get("rerank").at("/predictions/0/index").asInt()).isEqualTo(1);
        assertThat(answers.get("bad-pair").get("error").asString()).contains("reads single texts, not pairs");
    }

    static void send(org.apache.kafka.clients.producer.KafkaProducer<byte[], byte[]> producer, String key, String model, String protocol,
                     String body) throws Exception {
        var record = new org.apache.kafka.clients.producer.ProducerRecord<>("igate-input", key.getBytes(java.nio.charset.StandardCharsets.UTF_8),
                body.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        record.headers().add("igate-model", model.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        record.headers().add("igate-protocol", protocol.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        producer.send(record).get();
    }

    @Test
    void pairsZeroShotAndRerankAreExplainedOverBothTexts() {
        ready();
        // a pair: each word tagged with the text it is from
        JsonNode pair = post("/v1/models/" + TaskDemos.PAIR_MODEL + ":explain", """
                {"instances": [{"text": "%s", "text_pair": "This example is about toxicology."}], "parameters": {"n_steps": 16, "merge_subwords": true}}
                """.formatted(TEXT)).get("explanations").get(0);
        assertThat(pair.get("target").asString()).isEqualTo("entailment");
        List<String> words = new ArrayList<>();
        pair.get("words").forEach(w -> words.add(w.asString()));
        assertThat(pair.get("segment")).hasSize(words.size());
        assertThat(pair.get("segment").get(words.indexOf("cadmium")).asInt()).isZero();
        assertThat(pair.get("segment").get(words.indexOf("toxicology")).asInt()).isEqualTo(1);

        // zero-shot: the chosen label's hypothesis, its entailment logit attributed; a target picks another candidate
        JsonNode zeroShot = post("/v1/models/" + TaskDemos.PAIR_MODEL + ":explain", """
                {"instances": ["%s"], "parameters": {"candidate_labels": ["ecology", "toxicology"], "n_steps": 16, "merge_subwords": true}}
                """.formatted(TEXT)).get("explanations").get(0);
        assertThat(zeroShot.get("target").asString()).isEqualTo("toxicology");
        assertThat(zeroShot.get("target_index").asInt()).isZero();
        List<String> hypothesis = new ArrayList<>();
        zeroShot.get("words").forEach(w -> hypothesis.add(w.asString()));
        assertThat(hypothesis).contains("toxicology").doesNotContain("ecology");
        JsonNode ecology = post("/v2/models/" + TaskDemos.PAIR_MODEL + "/explain", """
                {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["%s"]}],
                 "parameters": {"candidate_labels": "ecology,toxicology", "target": "ecology", "n_steps": 16}}
                """.formatted(TEXT));
        assertThat(ecology.toString()).contains("\"target\":\"ecology\"");
        assertThat(refused("/v1/models/" + TaskDemos.PAIR_MODEL + ":explain",
                "{\"instances\": [\"a\"], \"parameters\": {\"candidate_labels\": [\"x\"], \"target\": \"y\"}}"))
                .contains("target must be one of the candidate_labels");

        // rerank: the query and each text, the relevance logit attributed
        JsonNode rerank = post("/v1/models/" + TaskDemos.CROSS_ENCODER + ":explain", """
                {"instances": ["Immunotherapy prolongs survival in metastatic melanoma."], "parameters": {"query": "cancer therapy", "n_steps": 16, "merge_subwords": true}}
                """).get("explanations").get(0);
        assertThat(rerank.get("target").asString()).isEqualTo("score");
        assertThat(rerank.get("segment").get(1).asInt()).isZero();
        assertThat(rerank.get("words").get(1).asString()).isEqualTo("cancer");
    }

    @Test
    void anEntityIsExplainedByItsIndexOrItsSpanAndLabel() {
        ready();
        String text = "Wistar rats given 10 mg/kg/day of benzene developed liver lesions.";
        // the third entity found (CHEMICAL benzene), through V1
        JsonNode byIndex = post("/v1/models/" + TaskDemos.TOKEN_MODEL + ":explain", """
                {"instances": ["%s"], "parameters": {"entity": 2, "n_steps": "auto", "merge_subwords": true}}
                """.formatted(text)).get("explanations").get(0);
        assertThat(byIndex.get("target").asString()).isEqualTo("CHEMICAL");
        assertThat(byIndex.get("approximate").asBoolean()).isFalse();
        List<String> words = new ArrayList<>();
        byIndex.get("words").forEach(w -> words.add(w.asString()));
        assertThat(words).contains("benzene", "Wistar");
        // the same entity named by its span (code points) and group, through V2
        JsonNode bySpan = post("/v2/models/" + TaskDemos.TOKEN_MODEL + "/explain", """
                {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["%s"]}],
                 "parameters": {"entity": {"start": 34, "end": 41, "label": "CHEMICAL"}, "n_steps": "auto", "merge_subwords": true}}
                """.formatted(text));
        JsonNode explained = bySpan.at("/outputs/0/data/0").isString() ? JSON.readTree(bySpan.at("/outputs/0/data/0").asString())
                : bySpan.at("/outputs/0/data/0");
        assertThat(explained.get("target").asString()).isEqualTo("CHEMICAL");
        for (int k = 0; k < words.size(); k++) {
            assertThat(explained.get("importances").get(k).doubleValue())
                    .isCloseTo(byIndex.get("importances").get(k).doubleValue(), within(1e-6));
        }
        assertThat(refused("/v1/models/" + TaskDemos.TOKEN_MODEL + ":explain",
                "{\"instances\": [\"" + text + "\"], \"parameters\": {\"entity\": 9}}")).contains("is not an index of the 4 entities");
        assertThat(refused("/v1/models/" + TaskDemos.TOKEN_MODEL + ":explain",
                "{\"instances\": [\"" + text + "\"], \"parameters\": {\"entity\": {\"start\": 0, \"end\": 6, \"label\": \"PLANET\"}}}"))
                .contains("entity's label must be one of the model's labels");
    }

    @org.springframework.boot.test.web.server.LocalServerPort
    int port;

    @Test
    void thePageHighlightsEntitiesExplainsTheOneClickedAndShowsAPairAsTwoTexts() throws Exception {
        ready();
        org.openqa.selenium.WebDriver browser = ExplanationPageIT.browser();
        try {
            var wait = new org.openqa.selenium.support.ui.WebDriverWait(browser, java.time.Duration.ofSeconds(60))
                    .ignoring(org.openqa.selenium.StaleElementReferenceException.class);
            browser.get("http://127.0.0.1:" + port + "/ui");
            wait.until(d -> d.findElements(org.openqa.selenium.By.cssSelector("#version option")).size() > 0);
            new org.openqa.selenium.support.ui.Select(browser.findElement(org.openqa.selenium.By.id("model")))
                    .selectByVisibleText(TaskDemos.TOKEN_MODEL);
            wait.until(d -> d.findElement(org.openqa.selenium.By.id("pair-field")).getAttribute("hidden") != null
                    && d.findElement(org.openqa.selenium.By.id("labels-field")).getAttribute("hidden") != null);
            var text = browser.findElement(org.openqa.selenium.By.id("text"));
            text.clear();
            text.sendKeys("Wistar rats given 10 mg/kg/day of benzene developed liver lesions.");
            browser.findElement(org.openqa.selenium.By.id("steps")).clear();
            browser.findElement(org.openqa.selenium.By.id("steps")).sendKeys("16");
            browser.findElement(org.openqa.selenium.By.id("explain")).click();
            // the entities are found and highlighted, the first explained
            wait.until(d -> d.findElements(org.openqa.selenium.By.cssSelector("#entities .entity")).size() == 4);
            wait.until(d -> d.findElement(org.openqa.selenium.By.id("target")).getText().equals("SPECIES"));
            // a click explains another
            browser.findElements(org.openqa.selenium.By.cssSelector("#entities .entity")).get(2).click();
            wait.until(d -> d.findElement(org.openqa.selenium.By.id("target")).getText().equals("CHEMICAL"));
            assertThat(browser.findElement(org.openqa.selenium.By.id("prediction")).getText()).isEqualTo("CHEMICAL: benzene");

            // a pair: the second text's field, and the words on two lines
            new org.openqa.selenium.support.ui.Select(browser.findElement(org.openqa.selenium.By.id("model")))
                    .selectByVisibleText(TaskDemos.PAIR_MODEL);
            wait.until(d -> d.findElement(org.openqa.selenium.By.id("pair-field")).getAttribute("hidden") == null);
            text = browser.findElement(org.openqa.selenium.By.id("text"));
            text.clear();
            text.sendKeys(TEXT);
            browser.findElement(org.openqa.selenium.By.id("pair")).sendKeys("This example is about toxicology.");
            browser.findElement(org.openqa.selenium.By.id("explain")).click();
            wait.until(d -> d.findElements(org.openqa.selenium.By.cssSelector("#words .segment")).size() == 2);
            var segments = browser.findElements(org.openqa.selenium.By.cssSelector("#words .segment"));
            assertThat(segments.get(0).getText()).contains("cadmium");
            assertThat(segments.get(1).getText()).contains("toxicology");
            assertThat(browser.findElement(org.openqa.selenium.By.id("prediction")).getText()).isEqualTo("entailment");
        } finally {
            browser.quit();
        }
    }

    @Test
    void everyEntityOfTheHeldOutSetIsAnExactSliceOfItsTextUnderEveryStrategy() throws Exception {
        ready();
        List<String> texts = new ArrayList<>(TaskDemos.heldOutEntitySentences());
        // accents and characters outside the Basic Multilingual Plane: offsets count code points
        texts.add("Zebrafish larvae 🐟 given 5 µM of acétaminophène showed liver 🫀 damage.");
        texts.add("Rats 🐀🐀 exposed to café-derived benzene at 100 ppm had kidney lesions.");
        int entities = 0;
        for (String strategy : List.of("none", "simple", "first", "average", "max")) {
            for (int from = 0; from < texts.size(); from += 40) {
                List<String> chunk = texts.subList(from, Math.min(texts.size(), from + 40));
                String body = JSON.writeValueAsString(Map.of("instances", chunk, "parameters", Map.of("aggregation_strategy", strategy)));
                JsonNode predictions = post("/v1/models/" + TaskDemos.TOKEN_MODEL + ":predict", body).get("predictions");
                for (int i = 0; i < chunk.size(); i++) {
                    String text = chunk.get(i);
                    for (JsonNode e : predictions.get(i)) {
                        int start = text.offsetByCodePoints(0, e.get("start").asInt());
                        int end = text.offsetByCodePoints(0, e.get("end").asInt());
                        assertThat(text.substring(start, end)).as("%s in %s", strategy, text).isEqualTo(e.get("word").asString());
                        entities++;
                    }
                }
            }
        }
        assertThat(entities).isGreaterThan(1000);
    }

    @Test
    void aTextCutFromTheLeftIsClassifiedAsAPlainSessionReadsItsEnd() {
        ready();
        String passage = "word ".repeat(200) + "Chronic cadmium exposure damaged the kidney of Wistar rats.";
        String hypothesis = "This example is about toxicology.";
        TokenBatch left = tokenizer.encodeFromLeft(List.of(passage), List.of(hypothesis), TextEncoder.Truncation.LONGEST_FIRST);
        Tensor out = nli.run(nli.tokenFeeds(new long[] {1, left.length()}, left.inputIds(), left.attentionMask(), left.typeIds()),
                List.of("logits")).get(0);

        JsonNode tei = answer("/tei/" + TaskDemos.PAIR_MODEL + "/predict", """
                {"inputs": ["%s", "%s"], "raw_scores": true, "truncation_direction": "Left"}
                """.formatted(passage, hypothesis), 200);
        JsonNode v1 = post("/v1/models/" + TaskDemos.PAIR_MODEL + ":predict", """
                {"instances": [{"text": "%s", "text_pair": "%s"}], "parameters": {"truncation_direction": "left"}}
                """.formatted(passage, hypothesis)).get("predictions");

        float[] logits = out.floats();
        int best = 0;
        for (int c = 1; c < 3; c++) {
            best = logits[c] > logits[best] ? c : best;
        }
        assertThat(tei.get(0).get("label").asString()).isEqualTo(TaskDemos.NLI_LABELS.get(best)).isEqualTo(v1.get(0).asString());
        assertThat(tei.get(0).get("score").doubleValue()).isCloseTo(logits[best], within(1e-4));
        // the same text cut from the right reads another part of it
        JsonNode right = answer("/tei/" + TaskDemos.PAIR_MODEL + "/predict", """
                {"inputs": ["%s", "%s"], "raw_scores": true}
                """.formatted(passage, hypothesis), 200);
        assertThat(right.get(0).get("score").doubleValue()).isNotCloseTo(logits[best], within(1e-3));
        assertThat(refused("/v1/models/" + TaskDemos.PAIR_MODEL + ":predict",
                "{\"instances\": [\"a\"], \"parameters\": {\"truncation_direction\": \"up\"}}")).contains("left or right");
    }

    @Test
    void anExplanationAskedAgainComesFromTheCacheAsItWasGiven() {
        ready();
        String body = """
                {"instances": [{"text": "%s", "text_pair": "This example is about ecology."}], "parameters": {"n_steps": 12}}
                """.formatted(TEXT);
        JsonNode first = post("/v1/models/" + TaskDemos.PAIR_MODEL + ":explain", body);
        double hits = hits();

        JsonNode again = post("/v1/models/" + TaskDemos.PAIR_MODEL + ":explain", body);

        assertThat(again).isEqualTo(first);
        assertThat(hits()).isEqualTo(hits + 1);
        // another parameter is another explanation
        post("/v1/models/" + TaskDemos.PAIR_MODEL + ":explain", body.replace("12", "13"));
        assertThat(hits()).isEqualTo(hits + 1);
    }

    double hits() {
        String metrics = new String(client.get().uri("/actuator/prometheus").exchange().expectStatus().isOk().expectBody()
                .returnResult().getResponseBody(), java.nio.charset.StandardCharsets.UTF_8);
        return metrics.lines().filter(l -> l.startsWith("igate_explanation_cache_total") && l.contains("result=\"hit\"")
                        && l.contains(TaskDemos.PAIR_MODEL))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
    }
}
