package dev.igate.gateway.serving;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.igate.gateway.IgateProperties;
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
 * <p>The key is the SHA-256 of the model, the version that serves (after canary routing), the
 * inputs (names, datatypes, shapes, values), the outputs asked for with their parameters, and the
 * request parameters except the scheduling ones; an answer is stored without the request's id,
 * and a hit is answered with the asking request's id. Hits and misses are counted as Triton names
 * them ({@code nv_cache_num_hits_per_model}, {@code nv_cache_num_misses_per_model}) and in the
 * version's statistics.
 */
@org.springframework.stereotype.Component
public final class ResponseCache {

    /** Request parameters that change when an answer comes, not what it is. */
    static final java.util.Set<String> SCHEDULING = java.util.Set.of("priority", "timeout");

    private final Cache<String, InferenceResponse> cache;
    private final MeterRegistry meters;
    private final long minimumWeight;

    @org.springframework.beans.factory.annotation.Autowired
    public ResponseCache(IgateProperties properties, MeterRegistry meters) {
        this(properties.responseCache().maxBytes().toBytes(), properties.responseCache().maxEntries(), meters);
    }

    ResponseCache(long maxBytes, int maxEntries, MeterRegistry meters) {
        this.minimumWeight = Math.max(1, maxBytes / maxEntries);
        this.meters = meters;
        // evictions run on the caller's thread: no pool of the cache's own, nothing handed off
        this.cache = Caffeine.newBuilder().maximumWeight(maxBytes).executor(Runnable::run)
                .weigher((String key, InferenceResponse value) -> (int) Math.min(Integer.MAX_VALUE, Math.max(minimumWeight, bytes(key, value))))
                .build();
    }

    /** The key of a request to the version that serves it. */
    static String key(InferenceRequest request, String version) {
        try {
            ByteArrayOutputStream buffer = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(buffer);
            out.writeUTF(request.model());
            out.writeUTF(version);
            out.writeInt(request.inputs().size());
            for (Tensor t : request.inputs()) {
                out.writeUTF(t.name());
                out.writeUTF(t.datatype().name());
                out.writeInt(t.shape().length);
                for (long d : t.shape()) {
                    out.writeLong(d);
                }
                writeData(out, t.data());
            }
            out.writeUTF(String.join("\u0000", request.requestedOutputs()));
            out.writeUTF(new TreeMap<>(request.classifications()).toString());
            out.writeUTF(new java.util.TreeSet<>(request.binaryOutputs()).toString());
            Map<String, Object> parameters = new TreeMap<>(request.parameters());
            SCHEDULING.forEach(parameters::remove);
            out.writeUTF(parameters.toString());
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            return HexFormat.of().formatHex(sha.digest(buffer.toByteArray()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void writeData(DataOutputStream out, Object data) throws IOException {
        if (data instanceof float[] f) {
            for (float v : f) {
                out.writeInt(Float.floatToRawIntBits(v));
            }
        } else if (data instanceof long[] l) {
            for (long v : l) {
                out.writeLong(v);
            }
        } else if (data instanceof int[] a) {
            for (int v : a) {
                out.writeInt(v);
            }
        } else if (data instanceof double[] d) {
            for (double v : d) {
                out.writeLong(Double.doubleToRawLongBits(v));
            }
        } else if (data instanceof short[] s) {
            for (short v : s) {
                out.writeShort(v);
            }
        } else if (data instanceof byte[] b) {
            out.write(b);
        } else if (data instanceof boolean[] b) {
            for (boolean v : b) {
                out.writeBoolean(v);
            }
        } else if (data instanceof byte[][] elements) {
            for (byte[] e : elements) {
                out.writeInt(e.length);
                out.write(e);
            }
        } else {
            throw new IllegalArgumentException("no cache key for tensor data " + data.getClass());
        }
    }

    private static long bytes(String key, InferenceResponse response) {
        long n = key.length() + 64L;
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
    InferenceResponse lookup(String key, InferenceRequest request, String model, String version, TritonStatistics statistics) {
        long t0 = System.nanoTime();
        InferenceResponse cached = cache.getIfPresent(key);
        boolean hit = cached != null;
        Counter.builder(hit ? "nv_cache_num_hits_per_model" : "nv_cache_num_misses_per_model")
                .description(hit ? "response cache hits" : "response cache misses")
                .tags("model", model, "version", version).register(meters).increment();
        if (statistics != null) {
            statistics.cache(hit, System.nanoTime() - t0);
        }
        return hit ? new InferenceResponse(request.id(), cached.model(), cached.version(), cached.outputs(), cached.parameters()) : null;
    }

    void store(String key, InferenceResponse response) {
        cache.put(key, new InferenceResponse(null, response.model(), response.version(), response.outputs(), response.parameters()));
    }

    /** Answers kept now (for tests and the actuator). */
    public long size() {
        cache.cleanUp();
        return cache.estimatedSize();
    }
}
