package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;

import dev.igate.gateway.grpc.GrpcServer;
import dev.igate.gateway.serving.ResponseCache;
import dev.igate.grpc.v2.GRPCInferenceServiceGrpc;
import dev.igate.grpc.v2.ModelInferResponse;
import io.grpc.ManagedChannel;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.EntityExchangeResult;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The response cache turned on for the demo model: a repeated request is answered from the
 * cache without reaching the batcher, with its own id and the version that served it; another
 * input, output or version is another entry; hits and misses are counted as Triton counts them.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {"igate.models.BERTSeqClassification.response-cache=true", "igate.response-cache.max-entries=100"})
class ResponseCacheIT extends ServerTestSupport {

    static final JsonMapper JSON = JsonMapper.builder().build();

    @Autowired
    ResponseCache cache;

    @Autowired
    GrpcServer grpc;

    EntityExchangeResult<byte[]> infer(String path, String id, String text) {
        return client.post().uri(path).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"id\": \"" + id + "\", \"inputs\": [{\"name\": \"text\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\""
                        + text + "\"]}], \"outputs\": [{\"name\": \"logits\"}]}")
                .exchange().expectStatus().isOk().expectBody().returnResult();
    }

    JsonNode stats(String version) {
        return JSON.readTree(client.get().uri("/v2/models/{m}/versions/{v}/stats", MODEL, version).exchange().expectStatus().isOk()
                .expectBody().returnResult().getResponseBody()).at("/model_stats/0");
    }

    @Test
    void aRepeatedRequestIsAnsweredFromTheCacheWithoutRunningTheModel() {
        String text = "Cached answers for repeated abstracts " + System.nanoTime();
        EntityExchangeResult<byte[]> first = infer("/v2/models/" + MODEL + "/versions/1/infer", "first", text);
        JsonNode before = stats("1");

        EntityExchangeResult<byte[]> second = infer("/v2/models/" + MODEL + "/versions/1/infer", "second", text);
        JsonNode after = stats("1");

        JsonNode a = JSON.readTree(first.getResponseBody());
        JsonNode b = JSON.readTree(second.getResponseBody());
        assertThat(b.get("id").stringValue()).isEqualTo("second");
        assertThat(b.get("outputs")).isEqualTo(a.get("outputs"));
        assertThat(second.getResponseHeaders().getFirst("X-Model-Version")).isEqualTo("1");
        // the batcher never saw the hit
        assertThat(after.get("execution_count").longValue()).isEqualTo(before.get("execution_count").longValue());
        assertThat(after.at("/inference_stats/cache_hit/count").longValue())
                .isEqualTo(before.at("/inference_stats/cache_hit/count").longValue() + 1);
        String metrics = new String(client.get().uri("/actuator/prometheus").exchange().expectBody().returnResult().getResponseBody());
        assertThat(metrics).containsPattern("nv_cache_num_hits_per_model_total\\{[^}]*model=\"BERTSeqClassification\",version=\"1\"\\} [1-9]")
                .contains("nv_cache_num_misses_per_model_total");
    }

    @Test
    void anotherVersionOrOutputIsAnotherEntry() {
        String text = "Versions keep their own answers " + System.nanoTime();
        long size = cache.size();
        EntityExchangeResult<byte[]> v1 = infer("/v2/models/" + MODEL + "/versions/1/infer", "a", text);
        EntityExchangeResult<byte[]> v2 = infer("/v2/models/" + MODEL + "/versions/2/infer", "b", text);

        assertThat(v2.getResponseHeaders().getFirst("X-Model-Version")).isEqualTo("2");
        assertThat(JSON.readTree(v2.getResponseBody()).get("model_version").stringValue()).isEqualTo("2");
        assertThat(JSON.readTree(v1.getResponseBody()).get("outputs")).isNotEqualTo(JSON.readTree(v2.getResponseBody()).get("outputs"));
        assertThat(cache.size()).isEqualTo(size + 2);
    }

    @Test
    void grpcHitsTheSameCache() throws Exception {
        String text = "A gRPC client shares the cache " + System.nanoTime();
        infer("/v2/models/" + MODEL + "/versions/1/infer", "rest", text);
        JsonNode before = stats("1");
        ManagedChannel channel = GrpcClients.channel(grpc.port());
        try {
            ModelInferResponse r = GRPCInferenceServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS)
                    .modelInfer(GrpcIT.textRequest("1", false, "logits", text).toBuilder().setId("grpc").build());
            assertThat(r.getId()).isEqualTo("grpc");
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        assertThat(stats("1").at("/inference_stats/cache_hit/count").longValue())
                .isEqualTo(before.at("/inference_stats/cache_hit/count").longValue() + 1);
    }

    @Test
    void badSchedulingParametersAre400WhetherOrNotTheAnswerIsCached() {
        String text = "Scheduling is checked before the cache " + System.nanoTime();
        infer("/v2/models/" + MODEL + "/versions/1/infer", "warm", text);

        client.post().uri("/v2/models/{m}/versions/1/infer", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"inputs\": [{\"name\": \"text\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"" + text
                        + "\"]}], \"outputs\": [{\"name\": \"logits\"}], \"parameters\": {\"priority\": -1}}")
                .exchange().expectStatus().isBadRequest()
                .expectBody().jsonPath("$.error").value(String.class, m -> assertThat(m).contains("priority"));
    }
}
