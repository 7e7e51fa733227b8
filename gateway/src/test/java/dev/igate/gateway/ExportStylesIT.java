package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import ai.onnx.proto.OnnxMl.ModelProto;
import dev.igate.demo.DynamicQuantizer;
import dev.igate.demo.TinyEncoder;
import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.SessionSettings;
import dev.igate.protocol.Tensor;
import dev.igate.transformer.TextEncoder;
import dev.igate.transformer.TokenBatch;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
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
 * Models of each export style served end to end: BERT and RoBERTa with ONNX Runtime's fused
 * transformer operators, DistilBERT without token_type_ids, and an int8 dynamic-quantized BERT.
 * Each answers text with the logits a plain ONNX Runtime session gives for the same tokens, and
 * explains exactly (through its gradient graph, not the black box).
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"igate.demo-models=false", "spring.cloud.gateway.server.webflux.routes="})
@AutoConfigureWebTestClient(timeout = "60s")
class ExportStylesIT {

    static final Path REPOSITORY = Path.of("target", "test-models-export-styles").toAbsolutePath();
    static final String TEXT = "Habitat loss drives amphibian decline in the tropics.";
    static final JsonMapper JSON = JsonMapper.builder().build();

    @Autowired
    WebTestClient client;

    static ModelProto fixture(String name) {
        return switch (name) {
            case "BertFused" -> TinyEncoder.fused(TinyEncoder.Style.BERT, 14, 3);
            case "RobertaFused" -> TinyEncoder.fused(TinyEncoder.Style.ROBERTA, 17, 3);
            case "Distilbert" -> TinyEncoder.model(TinyEncoder.Style.DISTILBERT, 18, 3);
            case "BertInt8" -> DynamicQuantizer.quantize(TinyEncoder.model(TinyEncoder.Style.BERT, 17, 3), true);
            default -> throw new IllegalArgumentException(name);
        };
    }

    @DynamicPropertySource
    static void repository(DynamicPropertyRegistry registry) throws Exception {
        for (String name : List.of("BertFused", "RobertaFused", "Distilbert", "BertInt8")) {
            TinyEncoder.write(REPOSITORY.resolve(name).resolve("1"), fixture(name));
        }
        registry.add("igate.model-repository", REPOSITORY::toString);
    }

    JsonNode post(String path, String body) {
        byte[] bytes = client.post().uri(path).contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange()
                .expectStatus().isOk().expectBody().returnResult().getResponseBody();
        return JSON.readTree(bytes);
    }

    @ParameterizedTest
    @ValueSource(strings = {"BertFused", "RobertaFused", "Distilbert", "BertInt8"})
    void servesTheLogitsOfAPlainSessionAndExplainsThroughTheGradientGraph(String model) throws Exception {
        ServerTestSupport.awaitReady(client, "/v2/models/" + model + "/ready");
        JsonNode out = post("/v2/models/" + model + "/infer", """
                {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["%s"]}], "outputs": [{"name": "logits"}]}
                """.formatted(TEXT)).at("/outputs/0");

        float[] expected = plainSession(REPOSITORY.resolve(model).resolve("1"), TEXT);
        assertThat(out.get("data").size()).isEqualTo(expected.length);
        for (int i = 0; i < expected.length; i++) {
            assertThat(out.at("/data/" + i).floatValue()).as("logit %d", i).isCloseTo(expected[i], within(1e-4f));
        }

        JsonNode explanation = post("/v2/models/" + model + "/explain", """
                {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["%s"]}], "parameters": {"n_steps": 64}}
                """.formatted(TEXT)).at("/outputs/0/data/0");
        assertThat(explanation.get("importances").size()).isEqualTo(explanation.get("words").size());
        if (model.endsWith("Int8")) {
            // exact but for quantization, which the gradients pass straight through: said so
            assertThat(explanation.get("approximate").booleanValue()).isTrue();
            assertThat(explanation.get("approximation").stringValue()).startsWith("straight-through gradients: quantization (");
        } else {
            assertThat(explanation.get("approximate").booleanValue()).as(explanation.toString()).isFalse();
        }
    }

    @org.junit.jupiter.api.Test
    void theBlackBoxOnAQuantizedModelSaysItsStepsDisagree() {
        ServerTestSupport.awaitReady(client, "/v2/models/BertInt8/ready");
        JsonNode explanation = post("/v2/models/BertInt8/explain", """
                {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["%s"]}],
                 "parameters": {"n_steps": 16, "gradients": "blackbox"}}
                """.formatted(TEXT)).at("/outputs/0/data/0");

        assertThat(explanation.get("approximate").booleanValue()).isTrue();
        assertThat(explanation.get("approximation").stringValue()).contains("finite differences at steps h and h/2 differ by")
                .contains("unreliable");
    }

    /** The logits of a version folder's model run by a plain ONNX Runtime session on the text's tokens. */
    static float[] plainSession(Path dir, String text) throws Exception {
        try (TextEncoder encoder = TextEncoder.load(dir.resolve("tokenizer.json"), 128);
             OnnxModel session = OnnxModel.load(dir.resolve("model.onnx"), new SessionSettings("cpu", 1, 1, "all"))) {
            TokenBatch batch = encoder.encode(List.of(text));
            long[] shape = {1, batch.ids(0).length};
            List<Tensor> feeds = new ArrayList<>(List.of(Tensor.ofLongs("input_ids", shape, batch.ids(0)),
                    Tensor.ofLongs("attention_mask", shape, batch.attentionMask())));
            if (session.inputs().stream().anyMatch(i -> i.name().equals("token_type_ids"))) {
                feeds.add(Tensor.ofLongs("token_type_ids", shape, batch.typeIds()));
            }
            return session.run(feeds, List.of("logits")).get(0).floats();
        }
    }
}
