package dev.igate.gateway.serving;

import dev.igate.gateway.model.TritonStatistics;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.igate.gateway.IgateProperties;
import dev.igate.gateway.model.ModelRegistry;
import dev.igate.gateway.model.ServedModel;
import dev.igate.protocol.InferenceRequest;
import dev.igate.protocol.InferenceResponse;
import dev.igate.protocol.Tensor;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * Triton's response cache: a model version's answer to a request it answered before, without
 * running the model. Off unless a model turns it on ({@code igate.models.<name>.response-cache});
 * one cache for the server, bounded by entries and bytes ({@code igate.response-cache}): each
 * answer weighs its bytes, and at least max-bytes / max-entries, so neither bound is passed.
 *
 * <p>The key is the loaded copy that serves (model, version after canary routing, and its load
 * generation: a reload of the same version number, retrained weights under "1", never answers from
 * the copy it replaced) and the SHA-256 of a canonical, length-prefixed encoding of the inputs
 * (names, datatypes, shapes, values), the outputs asked for with their parameters, and the request
 * parameters except the scheduling ones. A copy's entries are dropped when it is retired (reload,
 * unload). An answer is stored without the request's id, and a hit is answered with the asking
 * request's id. Hits and misses are counted as Triton names them ({@code nv_cache_num_hits_per_model},
 * {@code nv_cache_num_misses_per_model}) and in the version's statistics.
 */
@org.springframework.stereotype.Component
public final class ResponseCache {

    /** Request parameters that change when an answer comes, not what it is. */
    static final java.util.Set<String> SCHEDULING = java.util.Set.of("priority", "timeout");

    /** Where an answer is kept: the loaded copy that gave it and the digest of what was asked. */
    record Key(String model, String version, long generation, String digest) {
    }

    private final Cache<Key, InferenceResponse> cache;
    private final MeterRegistry meters;
    private final long minimumWeight;

    @org.springframework.beans.factory.annotation.Autowired
    public ResponseCache(IgateProperties properties, MeterRegistry meters, ModelRegistry registry) {
        this(properties.responseCache().maxBytes().toBytes(), properties.responseCache().maxEntries(), meters);
        registry.onRetired(this::drop);
    }

    ResponseCache(long maxBytes, int maxEntries, MeterRegistry meters) {
        this.minimumWeight = Math.max(1, maxBytes / maxEntries);
        this.meters = meters;
        // evictions run on the caller's thread: no pool of the cache's own, nothing handed off
        this.cache = Caffeine.newBuilder().maximumWeight(maxBytes).executor(Runnable::run)
                .weigher((Key key, InferenceResponse value) -> (int) Math.min(Integer.MAX_VALUE, Math.max(minimumWeight, bytes(value))))
                .build();
    }

    /** The key of a request to the loaded copy that serves it. */
    static Key key(InferenceRequest request, ServedModel served) {
        return key(request, served.name(), served.version(), served.generation());
    }

    static Key key(InferenceRequest request, String model, String version, long generation) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            CanonicalWriter out = new CanonicalWriter(sha);
            out.list(request.inputs().size());
            for (Tensor t : request.inputs()) {
                out.string(t.name());
                out.string(t.datatype().name());
                out.list(t.shape().length);
                for (long d : t.shape()) {
                    out.number(d);
                }
                writeData(out, t);
            }
            out.value(request.requestedOutputs());
            out.value(request.classifications());
            out.value(new java.util.TreeSet<>(request.binaryOutputs()));
            Map<String, Object> parameters = new TreeMap<>(request.parameters());
            SCHEDULING.forEach(parameters::remove);
            out.value(parameters);
            return new Key(model, version, generation, HexFormat.of().formatHex(sha.digest()));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A digest input that no two different values share: each value is a type tag, then its
     * length where it has one, then its bytes; maps in key order. No string form that two values
     * could share, and no length limit.
     */
    static final class CanonicalWriter {
        private final MessageDigest digest;
        private final java.nio.ByteBuffer scratch = java.nio.ByteBuffer.allocate(9);

        CanonicalWriter(MessageDigest digest) {
            this.digest = digest;
        }

        private void tag(char tag) {
            digest.update((byte) tag);
        }

        /** The digest of everything written, which ends the writer. */
        byte[] digest() {
            return digest.digest();
        }

        void list(int size) {
            tag('[');
            int32(size);
        }

        private void int32(int v) {
            scratch.clear();
            scratch.putInt(v);
            digest.update(scratch.array(), 0, 4);
        }

        void number(long v) {
            tag('l');
            scratch.clear();
            scratch.putLong(v);
            digest.update(scratch.array(), 0, 8);
        }

        void bytes(byte[] b) {
            tag('b');
            int32(b.length);
            digest.update(b);
        }

        void string(String s) {
            tag('s');
            byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            int32(b.length);
            digest.update(b);
        }

        /** Any parameter value: null, booleans, numbers, strings, lists and maps of them, nested. */
        void value(Object v) {
            if (v == null) {
                tag('n');
            } else if (v instanceof Boolean b) {
                tag(b ? 'T' : 'F');
            } else if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
                number(((Number) v).longValue());
            } else if (v instanceof Number n) {
                tag('d');
                scratch.clear();
                scratch.putLong(Double.doubleToLongBits(n.doubleValue()));
                digest.update(scratch.array(), 0, 8);
            } else if (v instanceof CharSequence text) {
                string(text.toString());
            } else if (v instanceof Map<?, ?> map) {
                tag('{');
                int32(map.size());
                Map<String, Object> sorted = new TreeMap<>();
                map.forEach((k, x) -> sorted.put(String.valueOf(k), x));
                sorted.forEach((k, x) -> {
                    string(k);
                    value(x);
                });
            } else if (v instanceof java.util.Collection<?> items) {
                list(items.size());
                items.forEach(this::value);
            } else {
                // another kind of value (a JSON node): its class and text
                tag('o');
                string(v.getClass().getName());
                string(v.toString());
            }
        }
    }

    /** A tensor's data: BYTES element by element (their boundaries count), any other datatype as its little-endian bytes. */
    private static void writeData(CanonicalWriter out, Tensor t) {
        if (t.datatype() == dev.igate.protocol.Datatype.BYTES) {
            out.list(t.size());
            for (byte[] e : t.bytes()) {
                out.bytes(e);
            }
            return;
        }
        out.bytes(dev.igate.protocol.Elements.of(t.datatype()).toLittleEndian(t.data()));
    }

    private static long bytes(InferenceResponse response) {
        long n = 64L + 64;
        for (Tensor t : response.outputs()) {
            n += 64 + t.name().length();
            if (t.data() instanceof byte[][] elements) {
                for (byte[] e : elements) {
                    n += e.length + 16;
                }
            } else {
                n += (long) java.lang.reflect.Array.getLength(t.data()) * t.datatype().byteSize();
            }
        }
        return n;
    }

    /** A cached answer for the request (with the request's id), or null; counted as a hit or a miss. */
    InferenceResponse lookup(Key key, InferenceRequest request, java.util.Optional<TritonStatistics> statistics) {
        long t0 = System.nanoTime();
        InferenceResponse cached = cache.getIfPresent(key);
        boolean hit = cached != null;
        Counter.builder(hit ? "nv_cache_num_hits_per_model" : "nv_cache_num_misses_per_model")
                .description(hit ? "response cache hits" : "response cache misses")
                .tags("model", key.model(), "version", key.version()).register(meters).increment();
        statistics.ifPresent(s -> s.cache(hit, System.nanoTime() - t0));
        return hit ? new InferenceResponse(request.id(), cached.model(), cached.version(), cached.outputs(), cached.parameters()) : null;
    }

    void store(Key key, InferenceResponse response) {
        cache.put(key, new InferenceResponse(null, response.model(), response.version(), response.outputs(), response.parameters()));
    }

    /** Forgets the answers of a loaded copy that is retired (reloaded or unloaded): they can no longer be asked for. */
    void drop(ServedModel retired) {
        drop(retired.name(), retired.generation());
    }

    void drop(String model, long generation) {
        cache.asMap().keySet().removeIf(k -> k.generation() == generation && k.model().equals(model));
    }

    /** Answers kept now (for tests and the actuator). */
    public long size() {
        cache.cleanUp();
        return cache.estimatedSize();
    }
}
