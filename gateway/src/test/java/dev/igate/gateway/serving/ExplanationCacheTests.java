package dev.igate.gateway.serving;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;

import dev.igate.protocol.TextRows;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

class ExplanationCacheTests {

    static final TextRows TEXTS = TextRows.of(List.of("a text"));

    @Test
    void theKeyIsTheLoadedCopyTheTextsAndEveryParameterButScheduling() {
        ExplanationCache.Key key = ExplanationCache.key("M", "1", 7, TEXTS, Map.of("n_steps", 8L, "priority", 1L));

        assertThat(ExplanationCache.key("M", "1", 7, TEXTS, Map.of("n_steps", 8L))).isEqualTo(key);
        assertThat(ExplanationCache.key("M", "1", 7, TEXTS, Map.of("n_steps", 9L))).isNotEqualTo(key);
        assertThat(ExplanationCache.key("M", "1", 8, TEXTS, Map.of("n_steps", 8L))).isNotEqualTo(key);
        assertThat(ExplanationCache.key("M", "1", 7, new TextRows(List.of("a text"), List.of("b")), Map.of("n_steps", 8L)))
                .isNotEqualTo(key);
        assertThat(ExplanationCache.key("M", "1", 7, TextRows.of(List.of("a tex", "t")), Map.of("n_steps", 8L))).isNotEqualTo(key);
    }

    @Test
    void answersAreKeptUntilTheirCopyRetiresAndNothingIsKeptWhenOff() {
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        ExplanationCache cache = new ExplanationCache(1 << 20, meters);
        ExplanationCache.Key key = ExplanationCache.key("M", "1", 7, TEXTS, Map.of());
        ExplainService.Result result = new ExplainService.Result("M", "1", List.of());

        assertThat(cache.lookup(key)).isNull();
        cache.store(key, result);
        assertThat(cache.lookup(key)).isSameAs(result);
        cache.drop("M", 6);
        assertThat(cache.lookup(key)).isSameAs(result);
        cache.drop("M", 7);
        assertThat(cache.lookup(key)).isNull();
        assertThat(meters.get("igate.explanation.cache").tag("result", "hit").counter().count()).isEqualTo(2);
        assertThat(new ExplanationCache(0, meters).enabled()).isFalse();
    }
}
