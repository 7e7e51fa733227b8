package dev.igate.gateway.serving;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;

import dev.igate.protocol.InferenceRequest;
import dev.igate.protocol.InferenceResponse;
import dev.igate.protocol.Tensor;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

class ResponseCacheTests {

    static InferenceRequest request(String text, Map<String, Object> parameters) {
        return new InferenceRequest("id", "m", null, List.of(Tensor.ofStrings("text", new long[] {1}, text)), List.of("logits"),
                parameters);
    }

    static InferenceResponse response(int floats) {
        return new InferenceResponse(null, "m", "1", List.of(Tensor.ofFloats("logits", new long[] {1, floats}, new float[floats])), Map.of());
    }

    @Test
    void theKeyIsTheVersionInputsOutputsAndParametersButNotTheScheduling() {
        String base = ResponseCache.key(request("a", Map.of()), "1");

        assertThat(ResponseCache.key(request("a", Map.of()), "1")).isEqualTo(base);
        assertThat(ResponseCache.key(request("a", Map.of("priority", 2L, "timeout", 1000L)), "1")).isEqualTo(base);
        assertThat(ResponseCache.key(request("a", Map.of()), "2")).isNotEqualTo(base);
        assertThat(ResponseCache.key(request("b", Map.of()), "1")).isNotEqualTo(base);
        assertThat(ResponseCache.key(request("a", Map.of("return_probabilities", true)), "1")).isNotEqualTo(base);
    }

    @Test
    void neitherTheEntriesNorTheBytesBoundIsPassed() {
        ResponseCache byEntries = new ResponseCache(1 << 20, 10, new SimpleMeterRegistry());
        for (int i = 0; i < 50; i++) {
            byEntries.store("k" + i, response(4));
        }
        assertThat(byEntries.size()).isLessThanOrEqualTo(10);

        // 4 KB answers in a 16 KB cache allowing 1,000 entries: the bytes decide
        ResponseCache byBytes = new ResponseCache(16 * 1024, 1000, new SimpleMeterRegistry());
        for (int i = 0; i < 50; i++) {
            byBytes.store("k" + i, response(1024));
        }
        assertThat(byBytes.size()).isLessThanOrEqualTo(4);
    }

    @Test
    void aHitAnswersWithTheAskingRequestsId() {
        ResponseCache cache = new ResponseCache(1 << 20, 10, new SimpleMeterRegistry());
        cache.store("k", new InferenceResponse("first", "m", "1", response(2).outputs(), Map.of()));

        InferenceResponse hit = cache.lookup("k", request("a", Map.of()), "m", "1", null);

        assertThat(hit.id()).isEqualTo("id");
        assertThat(cache.lookup("other", request("a", Map.of()), "m", "1", null)).isNull();
    }
}
