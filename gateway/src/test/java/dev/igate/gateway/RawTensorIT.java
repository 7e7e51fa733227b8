package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The demo model called with raw INT64 tensors, as any ONNX model in the repository can be. */
class RawTensorIT extends ServerTestSupport {

    static final long[] SEED_IDS = {101, 3891, 7667, 13494, 1997, 2609, 1011, 3563, 8700, 5816, 16012, 12462, 11733, 8553, 1012, 102};

    JsonNode post(String body) {
        byte[] bytes = client.post().uri("/v2/models/{m}/infer", MODEL).contentType(MediaType.APPLICATION_JSON).bodyValue(body)
                .exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody();
        return JsonMapper.builder().build().readTree(bytes);
    }

    static String ints(long[] values) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < values.length; i++) {
            sb.append(i == 0 ? "" : ",").append(values[i]);
        }
        return sb.append(']').toString();
    }

    @Test
    void rawTensorInferGivesTheSameLogitsAsTheTextPath() {
        long[] ones = new long[SEED_IDS.length];
        java.util.Arrays.fill(ones, 1);
        long[] zeros = new long[SEED_IDS.length];
        String raw = """
                {"inputs": [
                  {"name": "input_ids", "shape": [1, 16], "datatype": "INT64", "data": %s},
                  {"name": "attention_mask", "shape": [1, 16], "datatype": "INT64", "data": %s},
                  {"name": "token_type_ids", "shape": [1, 16], "datatype": "INT64", "data": %s}]}
                """.formatted(ints(SEED_IDS), ints(ones), ints(zeros));
        String text = """
                {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["%s"]}],
                 "outputs": [{"name": "logits"}]}
                """.formatted(SEED_TEXT);

        JsonNode rawOut = post(raw).get("outputs").get(0);
        JsonNode textOut = post(text).get("outputs").get(0);

        assertThat(rawOut.get("name").stringValue()).isEqualTo("logits");
        assertThat(rawOut.get("datatype").stringValue()).isEqualTo("FP32");
        assertThat(rawOut.get("shape").values()).extracting(JsonNode::intValue).containsExactly(1, 6);
        List<JsonNode> a = List.copyOf(rawOut.get("data").values());
        List<JsonNode> b = List.copyOf(textOut.get("data").values());
        assertThat(a).hasSize(6);
        for (int i = 0; i < 6; i++) {
            assertThat(a.get(i).floatValue()).isCloseTo(b.get(i).floatValue(), within(1e-5f));
        }
    }

    @Test
    void nestedRawDataIsAcceptedToo() {
        String raw = """
                {"inputs": [
                  {"name": "input_ids", "shape": [2, 3], "datatype": "INT64", "data": [[101, 2609, 102], [101, 8700, 102]]},
                  {"name": "attention_mask", "shape": [2, 3], "datatype": "INT64", "data": [[1, 1, 1], [1, 1, 1]]},
                  {"name": "token_type_ids", "shape": [2, 3], "datatype": "INT64", "data": [[0, 0, 0], [0, 0, 0]]}]}
                """;

        JsonNode out = post(raw).get("outputs").get(0);

        assertThat(out.get("shape").values()).extracting(JsonNode::intValue).containsExactly(2, 6);
    }

    static String tokens(long... ids) {
        long[] ones = new long[ids.length];
        java.util.Arrays.fill(ones, 1);
        return """
                {"inputs": [
                  {"name": "input_ids", "shape": [1, %d], "datatype": "INT64", "data": %s},
                  {"name": "attention_mask", "shape": [1, %d], "datatype": "INT64", "data": %s},
                  {"name": "token_type_ids", "shape": [1, %d], "datatype": "INT64", "data": %s}]}
                """.formatted(ids.length, ints(ids), ids.length, ints(ones), ids.length, ints(new long[ids.length]));
    }

    @Test
    void anIdPastTheVocabularyIsA400NamingIt() {
        client.post().uri("/v2/models/{m}/infer", MODEL).contentType(MediaType.APPLICATION_JSON).bodyValue(tokens(101, 99_999, 102))
                .exchange().expectStatus().isBadRequest().expectBody().jsonPath("$.error")
                .isEqualTo("Input input_ids holds the token id 99999 at element 1, outside the model's vocabulary of 30522 (ids 0 to 30521)");
    }

    @Test
    void aBadRequestAmongConcurrentGoodOnesFailsNoneOfThem() {
        // six clients send good token tensors while a seventh sends an id past the vocabulary; their rows share batches
        java.util.List<Integer> statuses = reactor.core.publisher.Flux.range(0, 140)
                .flatMap(i -> reactor.core.publisher.Mono.fromCallable(() -> client.post().uri("/v2/models/{m}/infer", MODEL)
                                .contentType(MediaType.APPLICATION_JSON)
                                .bodyValue(i % 7 == 6 ? tokens(101, 99_999, 102) : tokens(101, 2609 + i % 7, 102))
                                .exchange().expectBody().returnResult().getStatus().value())
                        .subscribeOn(reactor.core.scheduler.Schedulers.boundedElastic()), 7)
                .collectList().block(java.time.Duration.ofMinutes(1));

        assertThat(statuses).hasSize(140);
        for (int i = 0; i < statuses.size(); i++) {
            assertThat(statuses.get(i)).as("request %d", i).isIn(200, 400);
        }
        assertThat(statuses.stream().filter(s -> s == 200).count()).isEqualTo(120);
    }
}
