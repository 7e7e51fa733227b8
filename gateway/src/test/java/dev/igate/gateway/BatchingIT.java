package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.WebTestClient;
import reactor.core.publisher.Flux;
import reactor.core.scheduler.Schedulers;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Concurrent callers share ONNX Runtime runs (seen in the Triton-like counters) and each gets
 * exactly the answer it gets alone.
 */
class BatchingIT extends ServerTestSupport {

    static final JsonMapper JSON = JsonMapper.builder().build();
    static final List<String> TEXTS = List.of(SEED_TEXT, "Compiler optimisations for vectorised loops",
            "Habitat loss drives amphibian decline", "Checkpoint inhibitors prolong survival in metastatic melanoma",
            "Hippocampal place cells encode spatial memory", "Grain boundary engineering in nickel superalloys",
            "A short one", "Dose-dependent hepatotoxicity of a common analgesic in rodents after repeated oral exposure");

    static JsonNode probabilities(WebTestClient client, String text) {
        byte[] body = client.post().uri("/v1/models/{m}:predict?probabilities=true", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [" + JSON.writeValueAsString(text) + "]}")
                .exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody();
        return JSON.readTree(body).at("/predictions/0");
    }

    static double counter(String metrics, String name) {
        Matcher m = Pattern.compile("(?m)^" + name + "\\{[^}]*model_name=\"" + MODEL + "\",model_version=\"1\"[^}]*} (\\S+)$").matcher(metrics);
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }

    String metrics() {
        return client.get().uri("/actuator/prometheus").exchange().expectBody(String.class).returnResult().getResponseBody();
    }

    /** The metrics once the batcher has counted {@code rows} more rows than {@code before}: it counts a run just after answering it. */
    String metricsCounting(String before, int rows) {
        double from = counter(before, "nv_inference_count_total");
        return await().atMost(Duration.ofSeconds(10)).until(this::metrics, m -> counter(m, "nv_inference_count_total") - from >= rows);
    }

    @Test
    void concurrentTextRequestsShareRunsAndGetTheirOwnAnswers() {
        List<JsonNode> alone = new ArrayList<>();
        for (String t : TEXTS) {
            alone.add(probabilities(client, t));
        }
        String before = metrics();

        List<JsonNode> together = Flux.range(0, 96)
                .flatMap(i -> reactor.core.publisher.Mono.fromCallable(() -> probabilities(client, TEXTS.get(i % TEXTS.size())))
                        .subscribeOn(Schedulers.boundedElastic()), 48)
                .collectList().block(Duration.ofMinutes(2));
        String after = metricsCounting(before, 96);

        assertThat(together).hasSize(96);
        for (JsonNode answer : together) {
            int i = -1;
            for (int k = 0; k < alone.size(); k++) {
                if (alone.get(k).get("label").equals(answer.get("label"))
                        && Math.abs(alone.get(k).at("/probabilities/Pharma-Toxico").doubleValue()
                        - answer.at("/probabilities/Pharma-Toxico").doubleValue()) < 1e-5) {
                    i = k;
                }
            }
            assertThat(i).as("answer %s matches one text's unbatched answer", answer).isNotNegative();
        }
        double rows = counter(after, "nv_inference_count_total") - counter(before, "nv_inference_count_total");
        double runs = counter(after, "nv_inference_exec_count_total") - counter(before, "nv_inference_exec_count_total");
        assertThat(rows).isEqualTo(96);
        assertThat(runs).as("runs for 96 rows").isLessThan(96);
        assertThat(after).contains("igate_batch_size_bucket{").contains("igate_queue_wait_seconds_count{")
                .contains("igate_queue_depth{").contains("igate_batch_run_seconds_count{");
    }

    @Test
    void concurrentRawTensorRequestsAreBatchedAndSplitBack() {
        long[][] ids = {{101, 2609, 102}, {101, 8700, 102}, {101, 3891, 102}, {101, 1012, 102}};
        List<String> alone = new ArrayList<>();
        for (long[] row : ids) {
            alone.add(raw(row));
        }

        String before = metrics();
        List<String> together = Flux.range(0, 64)
                .flatMap(i -> reactor.core.publisher.Mono.fromCallable(() -> i + "=" + raw(ids[i % ids.length]))
                        .subscribeOn(Schedulers.boundedElastic()), 32)
                .collectList().block(Duration.ofMinutes(2));

        assertThat(together).hasSize(64);
        for (String entry : together) {
            int i = Integer.parseInt(entry.substring(0, entry.indexOf('=')));
            assertThat(entry.substring(entry.indexOf('=') + 1)).isEqualTo(alone.get(i % ids.length));
        }
        // batched: 64 rows in fewer runs
        String after = metricsCounting(before, 64);
        double rows = counter(after, "nv_inference_count_total") - counter(before, "nv_inference_count_total");
        double runs = counter(after, "nv_inference_exec_count_total") - counter(before, "nv_inference_exec_count_total");
        assertThat(rows).isEqualTo(64);
        assertThat(runs).as("runs for 64 rows").isLessThan(64);
    }

    String raw(long[] row) {
        String ids = java.util.Arrays.toString(row);
        String body = """
                {"inputs": [
                  {"name": "input_ids", "shape": [1, 3], "datatype": "INT64", "data": %s},
                  {"name": "attention_mask", "shape": [1, 3], "datatype": "INT64", "data": [1, 1, 1]},
                  {"name": "token_type_ids", "shape": [1, 3], "datatype": "INT64", "data": [0, 0, 0]}]}
                """.formatted(ids);
        byte[] out = client.post().uri("/v2/models/{m}/versions/1/infer", MODEL).contentType(MediaType.APPLICATION_JSON).bodyValue(body)
                .exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody();
        List<String> rounded = new ArrayList<>();
        for (JsonNode v : JSON.readTree(out).at("/outputs/0/data")) {
            rounded.add(String.format(java.util.Locale.ROOT, "%.4f", v.doubleValue()));
        }
        return rounded.toString();
    }
}
