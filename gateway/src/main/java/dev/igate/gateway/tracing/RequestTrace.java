package dev.igate.gateway.tracing;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import io.micrometer.tracing.Span;
import io.micrometer.tracing.TraceContext;

/**
 * The trace one request belongs to, as the data plane follows it: the request's own span (REST's
 * server observation, or the server or consumer span a transport started), under which each stage
 * the request went through becomes a child span once it is over (tokenization, queue wait,
 * decoding, the answer's encoding), timed with {@link System#nanoTime()}. {@link #NONE} when
 * tracing is off: every method is then a no-op. An unsampled request keeps its trace id (logged,
 * and propagated onward with its flag) and records nothing.
 */
public final class RequestTrace {

    /** No trace: tracing is off, or nothing started one. */
    public static final RequestTrace NONE = new RequestTrace(null, null, false);

    private final Tracing tracing;
    private final Span span;
    private final boolean owned;
    private final java.util.concurrent.atomic.AtomicBoolean ended = new java.util.concurrent.atomic.AtomicBoolean();

    /** Read once, while the span is live: a span that has ended (REST's, once answered) no longer says it records. */
    private final boolean recording;

    RequestTrace(Tracing tracing, Span span, boolean owned) {
        this.tracing = tracing;
        this.span = span;
        this.owned = owned;
        this.recording = span != null && !span.isNoop();
    }

    /**
     * Whether the request is traced and sampled: its stages are recorded, also after its own span
     * ended (a batch run reported after the answer went out).
     */
    public boolean recording() {
        return recording;
    }

    /** The request's span context, or null without a trace. */
    public TraceContext context() {
        return span == null ? null : span.context();
    }

    /** The request's trace id, sampled or not; null without a trace. */
    public String traceId() {
        return span == null ? null : span.context().traceId();
    }

    /** Tags the request's span (the model, version and revision that served it, say). */
    public void tag(String key, String value) {
        if (recording && value != null) {
            span.tag(key, value);
        }
    }

    /**
     * A stage of the request that is over, as a child span from {@code startNanos} to
     * {@code endNanos} ({@link System#nanoTime()}), with {@code attributes} as key, value pairs.
     */
    public void stage(String name, long startNanos, long endNanos, Object... attributes) {
        if (!recording()) {
            return;
        }
        Span.Builder builder = tracing.tracer().spanBuilder().setParent(span.context()).name(name)
                .startTimestamp(tracing.epochNanos(startNanos), TimeUnit.NANOSECONDS);
        Tracing.tag(builder, attributes);
        builder.start().end(tracing.epochNanos(endNanos), TimeUnit.NANOSECONDS);
    }

    /**
     * Runs {@code work} with the request's span current on this thread (a latency recorded in it
     * gets the trace as its Prometheus exemplar, a line logged in it the trace's ids); just runs it
     * when the request is not recorded.
     */
    public void scoped(Runnable work) {
        if (!recording()) {
            work.run();
            return;
        }
        try (io.micrometer.tracing.Tracer.SpanInScope scope = tracing.tracer().withSpan(span)) {
            work.run();
        }
    }

    /** The trace context to send onward ({@code traceparent}, {@code tracestate}): empty without a trace. */
    public Map<String, String> headers() {
        if (span == null) {
            return Map.of();
        }
        Map<String, String> headers = new LinkedHashMap<>(2);
        tracing.propagator().inject(span.context(), headers, Map::put);
        return headers;
    }

    /**
     * Ends the request's span when this trace started it (gRPC's server span, Kafka's consumer
     * span), with the error if any; once, whoever comes first (an answer, or a cancel).
     */
    public void end(Throwable error) {
        if (owned && span != null && ended.compareAndSet(false, true)) {
            if (error != null) {
                span.error(error);
            }
            span.end();
        }
    }
}
