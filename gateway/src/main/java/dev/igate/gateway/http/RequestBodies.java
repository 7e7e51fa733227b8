package dev.igate.gateway.http;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.Locale;
import java.util.function.Function;
import java.util.zip.GZIPInputStream;
import java.util.zip.Inflater;
import java.util.zip.InflaterInputStream;
import java.util.zip.ZipException;

import dev.igate.gateway.IgateProperties;
import dev.igate.protocol.InvalidInputException;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferLimitException;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.server.reactive.ServerHttpRequest;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ResponseStatusException;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * Reads whole request bodies as bytes, whatever their content type (curl's default form type
 * included, as KServe accepts), up to {@code igate.max-request-size}; past it the read fails
 * with a DataBufferLimitException, which {@link ErrorResponses} answers with 413.
 *
 * <p>A body past the limit is still read to its end (and dropped), up to {@link #drainBytes} in
 * all and {@link #DRAIN_TIME} past the limit, so that a client that writes its whole body before
 * it reads (Python's urllib, most simple clients) reads the 413 instead of a reset connection.
 *
 * <p>Bodies sent with {@code Content-Encoding: gzip} or {@code deflate} (Triton's client
 * compresses so when asked) are decompressed, the limit applying to the decompressed size too (a
 * decompression bomb answers 413); other codings answer 415.
 */
@Component
public class RequestBodies {

    /** How long a body past the limit is read on before the connection is given up. */
    static final Duration DRAIN_TIME = Duration.ofSeconds(10);

    private final int limit;

    public RequestBodies(IgateProperties properties) {
        this.limit = (int) properties.maxRequestSize().toBytes();
    }

    /** The body, decompressed per its Content-Encoding; 413 past the limit, 415 for an unknown coding. */
    public Mono<byte[]> read(ServerHttpRequest request) {
        String coding = coding(request.getHeaders().getFirst(HttpHeaders.CONTENT_ENCODING));
        Mono<byte[]> raw = collect(request.getBody(), limit);
        if (coding == null) {
            return raw;
        }
        // inflating is CPU work of unknown size: never on an event loop
        return raw.flatMap(bytes -> Mono.fromCallable(() -> inflate(bytes, coding, limit)).subscribeOn(Schedulers.parallel()));
    }

    /** Bytes read past the limit before the connection is given up: four times the limit, at least 32 MiB. */
    static long drainBytes(int limit) {
        return Math.max(4L * limit, 32L << 20);
    }

    /**
     * Reads a body whole, up to {@code limit} bytes; past it, reads on and drops the rest (up to
     * {@link #drainBytes} and {@link #DRAIN_TIME}), then fails with a DataBufferLimitException.
     */
    public static Mono<byte[]> collect(Flux<DataBuffer> body, int limit) {
        return Mono.defer(() -> {
            Collected collected = new Collected(limit);
            // each buffer is copied and released as it comes (then() drops the elements it ignores: no second release)
            return body.doOnNext(collected::add).then(Mono.fromCallable(collected::bytes));
        });
    }

    /** What a body brought so far: its bytes while within the limit, then only a count. */
    private static final class Collected {
        private final int limit;
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();
        private long seen;
        private long overSince;

        Collected(int limit) {
            this.limit = limit;
        }

        void add(DataBuffer buffer) {
            try {
                int n = buffer.readableByteCount();
                seen += n;
                if (seen <= limit) {
                    byte[] chunk = new byte[n];
                    buffer.read(chunk);
                    out.write(chunk, 0, n);
                    return;
                }
                long now = System.nanoTime();
                if (overSince == 0) {
                    overSince = now;
                    out.reset();
                }
                if (seen > drainBytes(limit) || now - overSince > DRAIN_TIME.toNanos()) {
                    // too much to read on: give the connection up
                    throw new DataBufferLimitException("Request body exceeds " + limit + " bytes");
                }
            } finally {
                DataBufferUtils.release(buffer);
            }
        }

        byte[] bytes() {
            if (seen > limit) {
                throw new DataBufferLimitException("Request body exceeds " + limit + " bytes");
            }
            return out.toByteArray();
        }
    }

    /** The one coding to undo, null for none; 415 for codings this server does not take. */
    static String coding(String header) {
        if (header == null) {
            return null;
        }
        String found = null;
        for (String part : header.split(",")) {
            String c = part.trim().toLowerCase(Locale.ROOT);
            if (c.isEmpty() || c.equals("identity")) {
                continue;
            }
            if (found != null || !(c.equals("gzip") || c.equals("x-gzip") || c.equals("deflate"))) {
                throw new ResponseStatusException(HttpStatus.UNSUPPORTED_MEDIA_TYPE,
                        "Unsupported Content-Encoding " + header.trim() + ": send gzip, deflate or identity");
            }
            found = c;
        }
        return found;
    }

    /** Undoes gzip or deflate (zlib, or raw deflate as some clients send it), up to {@code limit} bytes out. */
    static byte[] inflate(byte[] body, String coding, int limit) throws IOException {
        try {
            return readLimited(coding.equals("deflate") ? new InflaterInputStream(new ByteArrayInputStream(body))
                    : new GZIPInputStream(new ByteArrayInputStream(body)), limit);
        } catch (ZipException e) {
            if (coding.equals("deflate")) {
                try {
                    return readLimited(new InflaterInputStream(new ByteArrayInputStream(body), new Inflater(true)), limit);
                } catch (ZipException | java.io.EOFException raw) {
                    // fall through to the error below
                }
            }
            throw new InvalidInputException("Body is not valid " + coding + " data (Content-Encoding: " + coding + ")");
        } catch (java.io.EOFException e) {
            throw new InvalidInputException("Body is truncated " + coding + " data (Content-Encoding: " + coding + ")");
        }
    }

    private static byte[] readLimited(InputStream in, int limit) throws IOException {
        try (in) {
            byte[] out = in.readNBytes(limit);
            if (in.read() != -1) {
                throw new DataBufferLimitException("Request body exceeds " + limit + " bytes once decompressed");
            }
            return out;
        }
    }

    /**
     * Bodies up to this size are decoded where they arrived (a hop to another thread would cost
     * more than the parse); larger ones on Reactor's parallel scheduler, so that parsing up to the
     * body limit of JSON never holds an event loop.
     */
    static final int INLINE_DECODE_BYTES = 64 * 1024;

    /** Decodes a body: small ones at once on the calling thread, larger ones on Reactor's parallel scheduler. */
    public static <T> Mono<T> decode(byte[] bytes, Function<byte[], T> decoder) {
        Mono<T> decoded = Mono.fromCallable(() -> decoder.apply(bytes));
        return bytes.length <= INLINE_DECODE_BYTES ? decoded : decoded.subscribeOn(Schedulers.parallel());
    }

    /** Copies a pooled buffer into a byte array and releases it. */
    public static byte[] bytes(DataBuffer buffer) {
        try {
            byte[] bytes = new byte[buffer.readableByteCount()];
            buffer.read(bytes);
            return bytes;
        } finally {
            DataBufferUtils.release(buffer);
        }
    }
}
