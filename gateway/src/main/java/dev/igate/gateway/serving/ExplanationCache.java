package dev.igate.gateway.serving;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Map;
import java.util.TreeMap;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.igate.gateway.model.ModelRegistry;
import dev.igate.gateway.model.ServedModel;
import dev.igate.protocol.Explanation;
import dev.igate.protocol.TextRows;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * Explanations asked for again, answered without the work (seconds each): off unless
 * {@code igate.explainer.cache-max-bytes} is set, bounded by the bytes its answers weigh. The key
 * is the loaded copy that explains (model, version after canary routing, load generation: retrained
 * weights under the same number never answer from the copy they replaced) and the SHA-256 of the
 * texts (and pairs) and every request parameter but the scheduling ones, in a canonical encoding
 * (the response cache's). A copy's entries go when it is retired. Hits and misses are counted
 * ({@code igate_explanation_cache_total{result}}).
 */
@org.springframework.stereotype.Component
public final class ExplanationCache {

    /** Where an answer is kept: the loaded copy and the digest of what was asked. */
    record Key(String model, String version, long generation, String digest) {
    }

    private final Cache<Key, ExplainService.Result> cache;
    private final MeterRegistry meters;

    @org.springframework.beans.factory.annotation.Autowired
    public ExplanationCache(dev.igate.gateway.IgateProperties properties, MeterRegistry meters, ModelRegistry registry) {
        this(properties.explainer().cacheMaxBytes().toBytes(), meters);
        registry.onRetired(retired -> drop(retired.name(), retired.generation()));
    }

    ExplanationCache(long maxBytes, MeterRegistry meters) {
        this.meters = meters;
        this.cache = maxBytes <= 0 ? null : Caffeine.newBuilder().maximumWeight(maxBytes).executor(Runnable::run)
                .weigher((Key key, ExplainService.Result value) -> (int) Math.min(Integer.MAX_VALUE, bytes(value))).build();
    }

    /** Whether answers are kept at all. */
    boolean enabled() {
        return cache != null;
    }

    static Key key(ServedModel served, TextRows rows, Map<String, Object> parameters) {
        return key(served.name(), served.version(), served.generation(), rows, parameters);
    }

    static Key key(String model, String version, long generation, TextRows rows, Map<String, Object> parameters) {
        try {
            ResponseCache.CanonicalWriter out = new ResponseCache.CanonicalWriter(MessageDigest.getInstance("SHA-256"));
            out.value(rows.texts());
            out.value(rows.pairs());
            Map<String, Object> asked = new TreeMap<>(parameters);
            ResponseCache.SCHEDULING.forEach(asked::remove);
            out.value(asked);
            return new Key(model, version, generation, java.util.HexFormat.of().formatHex(out.digest()));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    ExplainService.Result lookup(Key key) {
        ExplainService.Result cached = cache.getIfPresent(key);
        Counter.builder("igate.explanation.cache").description("explanation cache look-ups").tags("model_name", key.model(), "result",
                cached != null ? "hit" : "miss").register(meters).increment();
        return cached;
    }

    void store(Key key, ExplainService.Result result) {
        cache.put(key, result);
    }

    void drop(String model, long generation) {
        if (cache != null) {
            cache.asMap().keySet().removeIf(k -> k.generation() == generation && k.model().equals(model));
        }
    }

    /** An answer's weight: its words and arrays, roughly as the heap holds them. */
    private static long bytes(ExplainService.Result result) {
        long n = 256;
        for (Explanation e : result.explanations()) {
            n += 512 + 48L * e.words().size() + 8L * (e.importances().length + e.attributions().length) + 8L * e.probabilities().length;
            for (String w : e.words()) {
                n += 2L * w.length();
            }
        }
        return n;
    }
}
