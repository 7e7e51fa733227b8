package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.igate.demo.DemoRepository;
import dev.igate.demo.LabelledSentence;
import dev.igate.demo.TinyClassifier;
import dev.igate.predictor.onnx.OnnxProtos;
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
 * int8 on load (igate.models.&lt;name&gt;.quantize: int8), on the demo model and on small models
 * built here. {@code BERTSeqClassification} is the demo model in fp32; {@code Int8} the same
 * folder quantized at load (weights per channel, activations per token), checked on the demo's calibration.txt, and the canary of
 * a weighted route group whose stable revision is the fp32 model, and the shadow of another route.
 * {@code Tied}'s int8 copy cannot tell its two leading labels apart (refused at its default
 * agreement); {@code Uncalibrated} has no calibration texts until a load call gives some (its
 * activations per run, ONNX Runtime's DynamicQuantizeLinear).
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "igate.demo-models=false", "igate.explainer.drift-every=1", "igate.admin-token=int8-token",
        "igate.models.Int8.quantize=int8", "igate.models.Int8.version-policy=specific:1",
        "igate.models.Tied.quantize=int8", "igate.models.Tied.quantize-per-channel=false",
        "igate.models.Uncalibrated.quantize=int8", "igate.models.Uncalibrated.quantize-activations=per-tensor",
        "spring.cloud.gateway.server.webflux.routes[0].id=int8-stable",
        "spring.cloud.gateway.server.webflux.routes[0].uri=forward:/v1/models/BERTSeqClassification/versions/1:predict",
        "spring.cloud.gateway.server.webflux.routes[0].predicates[0]=Path=/canaried:predict",
        "spring.cloud.gateway.server.webflux.routes[0].predicates[1]=Weight=int8-canary, 50",
        "spring.cloud.gateway.server.webflux.routes[0].filters[0]=Revision=stable",
        "spring.cloud.gateway.server.webflux.routes[0].metadata.model=BERTSeqClassification",
        "spring.cloud.gateway.server.webflux.routes[0].metadata.version=1",
        "spring.cloud.gateway.server.webflux.routes[0].metadata.revision=stable",
        "spring.cloud.gateway.server.webflux.routes[1].id=int8-canary",
        "spring.cloud.gateway.server.webflux.routes[1].uri=forward:/v1/models/Int8/versions/1:predict",
        "spring.cloud.gateway.server.webflux.routes[1].predicates[0]=Path=/canaried:predict",
        "spring.cloud.gateway.server.webflux.routes[1].predicates[1]=Weight=int8-canary, 50",
        "spring.cloud.gateway.server.webflux.routes[1].filters[0]=Revision=canary",
        "spring.cloud.gateway.server.webflux.routes[1].metadata.model=Int8",
        "spring.cloud.gateway.server.webflux.routes[1].metadata.version=1",
        "spring.cloud.gateway.server.webflux.routes[1].metadata.revision=canary",
        "spring.cloud.gateway.server.webflux.routes[1].metadata.auto-rollback=true",
        "spring.cloud.gateway.server.webflux.routes[2].id=int8-shadowed",
        "spring.cloud.gateway.server.webflux.routes[2].uri=forward:/v1/models/BERTSeqClassification/versions/1:predict",
        "spring.cloud.gateway.server.webflux.routes[2].predicates[0]=Path=/int8-shadowed:predict",
        "spring.cloud.gateway.server.webflux.routes[2].filters[0]=Shadow=forward:/v1/models/Int8/versions/1:predict, 100"})
@AutoConfigureWebTestClient(timeout = "120s")
class Int8LoadIT {

    static final Path WORK = Path.of("target", "int8-load").toAbsolutePath();
    static final JsonMapper JSON = JsonMapper.builder().build();
    static final String ADMIN = "Bearer int8-token";
    static final List<String> TEXTS = List.of("a short text", "another sentence about the weather", "the market fell sharply today",
            "results of the clinical trial", "a quiet evening at home");

    @Autowired
    WebTestClient client;

    @DynamicPropertySource
    static void repository(DynamicPropertyRegistry registry) throws Exception {
        ServerTestSupport.deleteTree(WORK);
        Path repo = Files.createDirectories(WORK.resolve("repository"));
        DemoRepository.ensure(ServerTestSupport.DEMO_REPOSITORY);
        Path demo = ServerTestSupport.DEMO_REPOSITORY.resolve(ServerTestSupport.MODEL);
        Files.createSymbolicLink(repo.resolve(ServerTestSupport.MODEL), demo);
        Files.createSymbolicLink(repo.resolve("Int8"), demo);
        writeTied(repo.resolve("Tied").resolve("1"));
        Files.write(repo.resolve("Tied").resolve("calibration.txt"), TEXTS);
        TinyClassifier.write(repo.resolve("Uncalibrated").resolve("1"), "Tanh", 5);
        registry.add("igate.model-repository", repo::toString);
        registry.add("igate.storage-cache", () -> WORK.resolve("cache").toString());
        // a copy an earlier quantizer form left in the cache (named without a form): not a model, so serving it fails the load
        Files.write(Files.createDirectories(WORK.resolve("cache").resolve("int8")).resolve(demoDigest() + "-per-channel-per-token.onnx"),
                "an earlier form's copy".getBytes());
    }

    /** The demo model's digest, the int8 cache's key (reads the model: call once). */
    static String demoDigest() throws java.io.IOException {
        return dev.igate.predictor.storage.ModelStorage.sha256(
                ServerTestSupport.DEMO_REPOSITORY.resolve(ServerTestSupport.MODEL).resolve("1").resolve("model.onnx"));
    }

    /**
     * A small classifier whose first two labels' weights differ by less than half an int8 step:
     * in fp32 the second wins every text (its margin is 0.001 times the positive pooled
     * activations), in int8 (one scale per tensor, the weights on its grid) the two are equal
     * codes, so the first wins: agreement 0.
     */
    static void writeTied(Path versionDir) throws Exception {
        TinyClassifier.write(versionDir, "Sigmoid", 3);
        Path file = versionDir.resolve("model.onnx");
        ModelProto model = OnnxProtos.read(file);
        int hidden = TinyClassifier.HIDDEN;
        float[] weights = new float[hidden * 3];
        for (int i = 0; i < hidden; i++) {
            float onGrid = ((i * 37) % 101 - 50) * 0.01f;
            weights[i * 3] = onGrid;
            weights[i * 3 + 1] = onGrid + 0.001f;
            weights[i * 3 + 2] = -1.27f;
        }
        var graph = model.getGraph().toBuilder();
        for (int i = 0; i < graph.getInitializerCount(); i++) {
            TensorProto t = graph.getInitializer(i);
            if (t.getName().equals("classifier.weight")) {
                graph.setInitializer(i, OnnxProtos.floats(t.getName(), new long[] {hidden, 3}, weights));
            } else if (t.getName().equals("classifier.bias")) {
                graph.setInitializer(i, OnnxProtos.floats(t.getName(), new long[] {3}, new float[3]));
            }
        }
        Files.write(file, model.toBuilder().setGraph(graph).build().toByteArray());
    }

    JsonNode get(String path) {
        return JSON.readTree(client.get().uri(path).exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody());
    }

    JsonNode post(String path, String body) {
        return JSON.readTree(client.post().uri(path).contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange()
                .expectStatus().isOk().expectBody().returnResult().getResponseBody());
    }

    static List<LabelledSentence> dataset() {
        try {
            return LabelledSentence.dataset();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static String instances(List<String> texts) {
        return "{\"instances\": " + JSON.writeValueAsString(texts) + "}";
    }

    /** The repository index's entry of a model version, once it has finished loading. */
    JsonNode indexEntry(String model) {
        return await().atMost(Duration.ofMinutes(3)).until(() -> {
            for (JsonNode e : JSON.readTree(client.post().uri("/v2/repository/index").header("Authorization", ADMIN)
                    .contentType(MediaType.APPLICATION_JSON)
                    .bodyValue("{}").exchange().expectBody().returnResult().getResponseBody())) {
                if (e.path("name").stringValue("").equals(model) && !e.path("state").stringValue("").equals("LOADING")) {
                    return e;
                }
            }
            return null;
        }, e -> e != null);
    }

    @Test
    void theInt8VersionServesCheckedAgainstTheFp32OneAndSaysHow() {
        ServerTestSupport.awaitReady(client, "/v2/models/Int8/versions/1/ready");
        JsonNode parameters = get("/v2/models/Int8/versions/1").get("parameters");
        assertThat(parameters.get("quantization").stringValue()).isEqualTo("int8");
        assertThat(parameters.get("quantization_per_channel").booleanValue()).isTrue();
        assertThat(parameters.get("quantization_activations").stringValue()).isEqualTo("per-token");
        // every sentence of the demo's data set (its calibration.txt)
        assertThat(parameters.get("quantization_calibration_texts").intValue()).isEqualTo(dataset().size());
        assertThat(parameters.get("quantization_label_agreement").doubleValue()).isGreaterThanOrEqualTo(0.99);
        assertThat(parameters.get("quantization_max_logit_difference").doubleValue()).isPositive().isLessThan(1.0);
        assertThat(get("/v2/models/BERTSeqClassification/versions/1").get("parameters").has("quantization")).isFalse();

        // through the server: the held-out sentences' labels, int8 against fp32
        List<String> heldOut = dataset().stream().filter(LabelledSentence::test).map(LabelledSentence::text).toList();
        JsonNode fp32 = post("/v1/models/BERTSeqClassification/versions/1:predict", instances(heldOut)).get("predictions");
        JsonNode int8 = post("/v1/models/Int8/versions/1:predict", instances(heldOut)).get("predictions");
        int agreed = 0;
        for (int i = 0; i < heldOut.size(); i++) {
            agreed += fp32.get(i).equals(int8.get(i)) ? 1 : 0;
        }
        assertThat((double) agreed / heldOut.size()).isGreaterThanOrEqualTo(0.99);
    }

    @Test
    void theInt8VersionBatchesRequestsAndATextAnswersAsItDoesAlone() {
        ServerTestSupport.awaitReady(client, "/v2/models/Int8/versions/1/ready");
        List<String> texts = dataset().stream().filter(LabelledSentence::test).map(LabelledSentence::text).limit(8).toList();
        // activations quantized per token: a text's probabilities do not move with the texts run beside it
        JsonNode together = post("/v1/models/Int8/versions/1:predict?probabilities=true", instances(texts)).get("predictions");
        for (int i = 0; i < texts.size(); i++) {
            JsonNode alone = post("/v1/models/Int8/versions/1:predict?probabilities=true", instances(List.of(texts.get(i))))
                    .at("/predictions/0/probabilities");
            JsonNode batched = together.get(i).get("probabilities");
            for (var label : alone.properties()) {
                assertThat(batched.get(label.getKey()).doubleValue()).as("%s of \"%s\"", label.getKey(), texts.get(i))
                        .isCloseTo(label.getValue().doubleValue(), org.assertj.core.data.Offset.offset(1e-5));
            }
        }
        // so the version is not held to one row a run, as per-run (batch-wide) quantization would be
        String metrics = client.get().uri("/actuator/prometheus").exchange().expectBody(String.class).returnResult().getResponseBody();
        java.util.regex.Matcher largest = java.util.regex.Pattern.compile(
                "(?m)^igate_batch_size_max\\{[^}]*model_name=\"Int8\"[^}]*} (\\S+)$").matcher(metrics);
        assertThat(largest.find()).as("Int8's batch sizes in %s", metrics).isTrue();
        assertThat(Double.parseDouble(largest.group(1))).isGreaterThanOrEqualTo(texts.size());
    }

    @Test
    void theInt8VersionIsExplainedAndItsImportancesAgreeWithTheFp32Ones() {
        ServerTestSupport.awaitReady(client, "/v2/models/Int8/versions/1/ready");
        for (String text : List.of(ServerTestSupport.SEED_TEXT, "Habitat loss drives amphibian decline in montane wetlands")) {
            JsonNode fp32 = post("/v1/models/BERTSeqClassification/versions/1:explain", instances(List.of(text))).at("/explanations/0");
            String target = fp32.get("target").stringValue();
            JsonNode int8 = post("/v1/models/Int8/versions/1:explain", "{\"instances\": " + JSON.writeValueAsString(List.of(text))
                    + ", \"parameters\": {\"target\": " + JSON.writeValueAsString(target) + "}}").at("/explanations/0");
            assertThat(int8.get("approximation").stringValue()).startsWith("straight-through gradients: quantization (");
            double cosine = 0;
            for (int i = 0; i < fp32.get("importances").size(); i++) {
                // importances have norm 1: their dot product is the cosine
                cosine += fp32.get("importances").get(i).doubleValue() * int8.get("importances").get(i).doubleValue();
            }
            assertThat(cosine).as("importances cosine of \"%s\"", text).isGreaterThanOrEqualTo(0.95);
        }
    }

    @Test
    void theQuantizedCopyIsCachedByTheSourcesDigestAndTheQuantizersFormAndReusedByAReload() throws Exception {
        ServerTestSupport.awaitReady(client, "/v2/models/Int8/versions/1/ready");
        String digest = demoDigest();
        List<String> copies;
        try (Stream<Path> files = Files.list(WORK.resolve("cache").resolve("int8"))) {
            copies = files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(digest)).toList();
        }
        String name = digest + "-per-channel-per-token-form" + dev.igate.predictor.onnx.Int8Quantizer.FORM + ".onnx";
        // the earlier form's copy was not served (it is no model) and is gone
        assertThat(copies).containsExactly(name);
        Path copy = WORK.resolve("cache").resolve("int8").resolve(name);
        FileTime made = Files.getLastModifiedTime(copy);

        client.post().uri("/admin/models/Int8/load").header("Authorization", ADMIN).exchange().expectStatus().isOk();
        ServerTestSupport.awaitReady(client, "/v2/models/Int8/versions/1/ready");
        assertThat(Files.getLastModifiedTime(copy)).isEqualTo(made);
        assertThat(get("/v2/models/Int8/versions/1").at("/parameters/quantization").stringValue()).isEqualTo("int8");
    }

    @Test
    void anInt8CopyThatDisagreesWithTheFp32ModelIsRefusedWithItsNumbers() {
        JsonNode entry = indexEntry("Tied");
        assertThat(entry.get("state").stringValue()).isEqualTo("UNAVAILABLE");
        assertThat(entry.get("reason").stringValue()).contains("quantize: int8 refused: label agreement 0.0000")
                .contains("over 5 calibration texts").contains("below quantize-min-agreement 0.99");
        // the server goes on serving the others
        ServerTestSupport.awaitReady(client, "/v2/models/BERTSeqClassification/versions/1/ready");
    }

    @Test
    void withoutCalibrationTextsTheLoadIsRefusedUntilTheLoadCallGivesSome() {
        JsonNode entry = indexEntry("Uncalibrated");
        assertThat(entry.get("reason").stringValue()).contains("calibration texts: none found");

        // Triton's load with the texts as its calibration parameter
        client.post().uri("/v2/repository/models/Uncalibrated/load").header("Authorization", ADMIN).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"parameters\": {\"calibration\": " + JSON.writeValueAsString(TEXTS) + "}}").exchange().expectStatus().isOk();
        JsonNode parameters = get("/v2/models/Uncalibrated/versions/1").get("parameters");
        assertThat(parameters.get("quantization_calibration_texts").intValue()).isEqualTo(TEXTS.size());
        assertThat(parameters.get("quantization_activations").stringValue()).isEqualTo("per-tensor");
        assertThat(parameters.get("quantization_label_agreement").doubleValue()).isGreaterThanOrEqualTo(0.99);
        // other load parameters stay refused, and a calibration that is not a list of texts
        client.post().uri("/v2/repository/models/Uncalibrated/load").header("Authorization", ADMIN).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"parameters\": {\"config\": \"{}\"}}").exchange().expectStatus().isBadRequest();
        client.post().uri("/v2/repository/models/Uncalibrated/load").header("Authorization", ADMIN).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"parameters\": {\"calibration\": [\"\", 3]}}").exchange().expectStatus().isBadRequest()
                .expectBody().jsonPath("$.error").value(e -> assertThat((String) e).contains("calibration"));
    }

    @Test
    void anInt8CanaryIsJudgedBesideItsFp32StableAndAsAShadow() {
        ServerTestSupport.awaitReady(client, "/v2/models/Int8/versions/1/ready");
        List<String> revisions = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            revisions.add(client.post().uri("/canaried:predict").contentType(MediaType.APPLICATION_JSON)
                    .bodyValue(instances(List.of(ServerTestSupport.SEED_TEXT))).exchange().expectStatus().isOk()
                    .expectBody().returnResult().getResponseHeaders().getFirst("X-Revision"));
        }
        assertThat(revisions).contains("stable", "canary");
        String metrics = client.get().uri("/actuator/prometheus").exchange().expectBody(String.class).returnResult().getResponseBody();
        // the canary guard's figures, side by side
        assertThat(metrics).containsPattern("igate_revision_requests_seconds_count\\{[^}]*revision=\"canary\"[^}]*} [1-9]")
                .containsPattern("igate_revision_requests_seconds_count\\{[^}]*revision=\"stable\"[^}]*} [1-9]");

        // the int8 model as a shadow: its explanations compared with the fp32 model's under the route
        client.post().uri("/int8-shadowed:predict").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(instances(List.of("Habitat loss drives amphibian decline in montane wetlands"))).exchange().expectStatus().isOk();
        String shadowed = await().atMost(Duration.ofSeconds(60)).until(() -> client.get().uri("/actuator/prometheus").exchange()
                .expectBody(String.class).returnResult().getResponseBody(),
                m -> m.matches("(?s).*igate_explanation_drift_samples_total\\{[^}]*route=\"int8-shadowed\"} [1-9].*"));
        java.util.regex.Matcher sum = java.util.regex.Pattern.compile(
                "(?m)^igate_explanation_drift_overlap_sum\\{[^}]*route=\"int8-shadowed\"} (\\S+)$").matcher(shadowed);
        java.util.regex.Matcher count = java.util.regex.Pattern.compile(
                "(?m)^igate_explanation_drift_overlap_count\\{[^}]*route=\"int8-shadowed\"} (\\S+)$").matcher(shadowed);
        assertThat(sum.find() && count.find()).isTrue();
        // an int8 copy explains as its fp32 model does: its top words overlap
        assertThat(Double.parseDouble(sum.group(1)) / Double.parseDouble(count.group(1))).isGreaterThanOrEqualTo(0.6);
    }
}
