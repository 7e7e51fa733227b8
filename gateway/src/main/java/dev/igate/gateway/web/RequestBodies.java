package dev.igate.gateway.web;

import java.util.function.Function;

import dev.igate.gateway.IgateProperties;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.http.server.reactive.ServerHttpRequest;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * Reads whole request bodies as bytes, whatever their content type (curl's default form type
 * included, as KServe accepts), up to {@code igate.max-request-size}; past it the read fails
 * with a DataBufferLimitException, which {@link ErrorResponses} answers with 413.
 */
@Component
public class RequestBodies {

    private final int limit;

    public RequestBodies(IgateProperties properties) {
        this.limit = (int) properties.maxRequestSize().toBytes();
    }

    public Mono<byte[]> read(ServerHttpRequest request) {
        return DataBufferUtils.join(request.getBody(), limit)
                .map(RequestBodies::bytes)
                .defaultIfEmpty(new byte[0]);
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
