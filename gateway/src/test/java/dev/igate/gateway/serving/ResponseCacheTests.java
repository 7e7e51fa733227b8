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

    static ResponseCache.Key key(InferenceRequest request, String version) {
        return ResponseCache.key(request, "m", version, 1);
    }

    @Test
    void theKeyIsTheVersionInputsOutputsAndParametersButNotTheScheduling() {
        ResponseCache.Key base = key(request("a", Map.of()), "1");

        assertThat(key(request("a", Map.of()), "1")).isEqualTo(base);
        assertThat(key(request("a", Map.of("priority", 2L, "timeout", 1000L)), "1")).isEqualTo(base);
        assertThat(key(request("a", Map.of()), "2")).isNotEqualTo(base);
        assertThat(key(request("b", Map.of()), "1")).isNotEqualTo(base);
        assertThat(key(request("a", Map.of("return_probabilities", true)), "1")).isNotEqualTo(base);
    }

    @Test
    void aReloadOfTheSameVersionNumberIsAnotherKey() {
        InferenceRequest same = request("a", Map.of());

        assertThat(ResponseCache.key(same, "m", "1", 2)).isNotEqualTo(ResponseCache.key(same, "m", "1", 1));
    }

    @Test
    void parametersThatReadAlikeAsTextAreDifferentKeys() {
        // {a=x, return_probabilities=true} either way as text
        ResponseCache.Key one = key(request("a", Map.of("a", "x, return_probabilities=true")), "1");
        ResponseCache.Key two = key(request("a", Map.of("a", "x", "return_probabilities", true)), "1");
        // an output named "a\u0000b" against the outputs "a" and "b"
        InferenceRequest joined = new InferenceRequest("id", "m", null, List.of(Tensor.ofStrings("text", new long[] {1}, "t")),
                List.of("a\u0000b"), Map.of());
        InferenceRequest split = new InferenceRequest("id", "m", null, List.of(Tensor.ofStrings("text", new long[] {1}, "t")),
                List.of("a", "b"), Map.of());

        assertThat(one).isNotEqualTo(two);
        assertThat(key(joined, "1")).isNotEqualTo(key(split, "1"));
        assertThat(key(request("a", Map.of("n", 1L)), "1")).isNotEqualTo(key(request("a", Map.of("n", "1")), "1"));
    }

    @Test
    void aParameterOrNameOverSixtyFourKilobytesMakesAKey() {
        String large = "x".repeat(100_000);

        assertThat(key(request("a", Map.of("note", large)), "1")).isNotEqualTo(key(request("a", Map.of("note", large + "y")), "1"));
        assertThat(key(new InferenceRequest("id", "m", null, List.of(Tensor.ofStrings(large, new long[] {1}, "t")), List.of(), Map.of()), "1"))
                .isNotNull();
    }

    @Test
    void aRetiredCopysAnswersAreDropped() {
        ResponseCache cache = new ResponseCache(1 << 20, 10, new SimpleMeterRegistry());
        cache.store(ResponseCache.key(request("a", Map.of()), "m", "1", 7), response(2));
        cache.store(ResponseCache.key(request("a", Map.of()), "m", "1", 8), response(2));
        cache.store(ResponseCache.key(request("a", Map.of()), "other", "1", 7), response(2));

        cache.drop("m", 7);

        assertThat(cache.lookup(ResponseCache.key(request("a", Map.of()), "m", "1", 7), request("a", Map.of()), java.util.Optional.empty())).isNull();
        assertThat(cache.lookup(ResponseCache.key(request("a", Map.of()), "m", "1", 8), request("a", Map.of()), java.util.Optional.empty())).isNotNull();
        assertThat(cache.lookup(ResponseCache.key(request("a", Map.of()), "other", "1", 7), request("a", Map.of()), java.util.Optional.empty())).isNotNull();
    }

    @Test
    void neitherTheEntriesNorTheBytesBoundIsPassed() {
        ResponseCache byEntries = new ResponseCache(1 << 20, 10, new SimpleMeterRegistry());
        for (int i = 0; i < 50; i++) {
            byEntries.store(key(request("k" + i, Map.of()), "1"), response(4));
        }
        assertThat(byEntries.size()).isLessThanOrEqualTo(10);

        // 4 KB answers in a 16 KB cache allowing 1,000 entries: the bytes decide
        ResponseCache byBytes = new ResponseCache(16 * 1024, 1000, new SimpleMeterRegistry());
        for (int i = 0; i < 50; i++) {
            byBytes.store(key(request("k" + i, Map.of()), "1"), response(1024));
        }
        assertThat(byBytes.size()).isLessThanOrEqualTo(4);
    }

    @Test
    void aHitAnswersWithTheAskingRequestsId() {
        ResponseCache cache = new ResponseCache(1 << 20, 10, new SimpleMeterRegistry());
        cache.store(key(request("k", Map.of()), "1"), new InferenceResponse("first", "m", "1", response(2).outputs(), Map.of()));

        InferenceResponse hit = cache.lookup(key(request("k", Map.of()), "1"), request("a", Map.of()), java.util.Optional.empty());

        assertThat(hit.id()).isEqualTo("id");
        assertThat(cache.lookup(key(request("other", Map.of()), "1"), request("a", Map.of()), java.util.Optional.empty())).isNull();
    }
}
