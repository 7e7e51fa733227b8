package dev.igate.gateway.tracing;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import io.micrometer.observation.Observation;
import io.micrometer.observation.contextpropagation.ObservationThreadLocalAccessor;
import io.micrometer.tracing.Link;
import io.micrometer.tracing.Span;
import io.micrometer.tracing.TraceContext;
import io.micrometer.tracing.Tracer;
import io.micrometer.tracing.handler.TracingObservationHandler;
import io.micrometer.tracing.propagation.Propagator;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.stereotype.Component;
import reactor.util.context.ContextView;

/**
 * Traces across the whole path, on Micrometer Tracing (OpenTelemetry underneath, W3C trace context
 * on the wire): finds a request's trace in its Reactor context (a transport's
 * {@link RequestTrace}, or REST's server observation), starts the server and consumer spans of the
 * transports Spring does not observe (gRPC, Kafka) from their carriers, and turns a batch run into
 * one span linked to every request it served. Without a tracer (tracing off: no collector set)
 * every request's trace is {@link RequestTrace#NONE} and nothing here costs more than a check.
 */
@Component
public class Tracing {

    private final Tracer tracer;
    private final Propagator propagator;
    /** Nanoseconds since the epoch at {@link System#nanoTime()} zero: spans are timed after the fact, with nanoTime. */
    private final long epochOffset;

    @org.springframework.beans.factory.annotation.Autowired
    public Tracing(ObjectProvider<Tracer> tracer, ObjectProvider<Propagator> propagator) {
        this(tracer.getIfAvailable(() -> Tracer.NOOP), propagator.getIfAvailable(() -> Propagator.NOOP));
    }

    /** Tracing off: every request's trace is {@link RequestTrace#NONE} (tools and tests without a Spring context). */
    public static Tracing off() {
        return new Tracing(Tracer.NOOP, Propagator.NOOP);
    }

    Tracing(Tracer tracer, Propagator propagator) {
        this.tracer = tracer;
        this.propagator = propagator;
        Instant now = Instant.now();
        this.epochOffset = now.getEpochSecond() * 1_000_000_000L + now.getNano() - System.nanoTime();
    }

    /** Whether requests are traced at all. */
    public boolean on() {
        return tracer != Tracer.NOOP;
    }

    Tracer tracer() {
        return tracer;
    }

    Propagator propagator() {
        return propagator;
    }

    long epochNanos(long nanoTime) {
        return epochOffset + nanoTime;
    }

    /** The request's trace in a Reactor context: the one a transport put there, else REST's server observation's; NONE without. */
    public RequestTrace of(ContextView context) {
        if (!on()) {
            return RequestTrace.NONE;
        }
        RequestTrace own = context.getOrDefault(RequestTrace.class, null);
        if (own != null) {
            return own;
        }
        Observation observation = context.getOrDefault(ObservationThreadLocalAccessor.KEY, null);
        TracingObservationHandler.TracingContext traced = observation == null ? null
                : observation.getContextView().get(TracingObservationHandler.TracingContext.class);
        Span span = traced == null ? null : traced.getSpan();
        return span == null ? RequestTrace.NONE : new RequestTrace(this, span, false);
    }

    /** A REST exchange's trace, from its server observation (in the exchange's attributes); NONE without. */
    public RequestTrace of(Map<String, Object> exchangeAttributes) {
        if (!on()) {
            return RequestTrace.NONE;
        }
        TracingObservationHandler.TracingContext traced = org.springframework.http.server.reactive.observation.ServerRequestObservationContext
                .findCurrent(exchangeAttributes).map(c -> (TracingObservationHandler.TracingContext) c.get(TracingObservationHandler.TracingContext.class))
                .orElse(null);
        Span span = traced == null ? null : traced.getSpan();
        return span == null ? RequestTrace.NONE : new RequestTrace(this, span, false);
    }

    /**
     * Starts the span of a call that arrives over a transport Spring does not observe, continuing the
     * trace context its carrier holds ({@code traceparent}, {@code tracestate}), or a new trace; the
     * returned trace ends it ({@link RequestTrace#end}).
     */
    public RequestTrace start(String name, Span.Kind kind, Map<String, String> carrier, Object... attributes) {
        if (!on()) {
            return RequestTrace.NONE;
        }
        Span.Builder builder = carrier.isEmpty() ? tracer.spanBuilder() : propagator.extract(carrier, Map::get);
        builder.name(name).kind(kind);
        tag(builder, attributes);
        return new RequestTrace(this, builder.start(), true);
    }

    /**
     * A batch run, once it is over: each traced request's queue wait as a child span of its own, and
     * the run as one span under the first recording request, linked to every recording request it
     * served (a span has one parent; the links say which other requests shared the run).
     *
     * @param traces     the jobs' traces (a {@link RequestTrace} or null each), in the run's order
     * @param queued     each job's [enqueued, dequeued] nanoTime
     * @param attributes the run's, as key, value pairs
     */
    public void run(List<Object> traces, List<long[]> queued, long startNanos, long endNanos, Object... attributes) {
        if (!on()) {
            return;
        }
        List<TraceContext> served = new ArrayList<>(traces.size());
        for (int i = 0; i < traces.size(); i++) {
            if (traces.get(i) instanceof RequestTrace trace && trace.recording()) {
                trace.stage("igate.queue", queued.get(i)[0], queued.get(i)[1]);
                served.add(trace.context());
            }
        }
        if (served.isEmpty()) {
            return;
        }
        Span.Builder builder = tracer.spanBuilder().setParent(served.get(0)).name("igate.batch.run")
                .startTimestamp(epochNanos(startNanos), TimeUnit.NANOSECONDS);
        for (TraceContext request : served) {
            builder.addLink(new Link(request));
        }
        tag(builder, attributes);
        builder.tag("igate.batch.requests", (long) traces.size());
        builder.start().end(epochNanos(endNanos), TimeUnit.NANOSECONDS);
    }

    static void tag(Span.Builder builder, Object[] attributes) {
        for (int i = 0; i + 1 < attributes.length; i += 2) {
            Object value = attributes[i + 1];
            if (value instanceof Number n && !(value instanceof Double || value instanceof Float)) {
                builder.tag((String) attributes[i], n.longValue());
            } else if (value != null) {
                builder.tag((String) attributes[i], String.valueOf(value));
            }
        }
    }
}
