package dev.igate.gateway.grpc;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;

/**
 * Makes a call's {@code x-session-id} metadata (gRPC's form of REST's X-Session-Id header)
 * available to the handler, for sticky canary routing, its {@code authorization} metadata, for
 * the calls behind the admin bearer token, and its {@code traceparent} and {@code tracestate}, for
 * its server span.
 */
class SessionIdInterceptor implements ServerInterceptor {

    static final Metadata.Key<String> HEADER = Metadata.Key.of("x-session-id", Metadata.ASCII_STRING_MARSHALLER);
    static final Context.Key<String> SESSION_ID = Context.key("igate-session-id");
    static final Metadata.Key<String> AUTHORIZATION_HEADER = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    static final Context.Key<String> AUTHORIZATION = Context.key("igate-authorization");
    /** W3C trace context in gRPC metadata, under the same keys as REST's headers. */
    static final Metadata.Key<String> TRACEPARENT_HEADER = Metadata.Key.of("traceparent", Metadata.ASCII_STRING_MARSHALLER);
    static final Metadata.Key<String> TRACESTATE_HEADER = Metadata.Key.of("tracestate", Metadata.ASCII_STRING_MARSHALLER);
    static final Context.Key<java.util.Map<String, String>> TRACE_CONTEXT = Context.key("igate-trace-context");

    @Override
    public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers, ServerCallHandler<Q, A> next) {
        String id = headers.get(HEADER);
        String authorization = headers.get(AUTHORIZATION_HEADER);
        String traceparent = headers.get(TRACEPARENT_HEADER);
        if (id == null && authorization == null && traceparent == null) {
            return next.startCall(call, headers);
        }
        Context context = Context.current();
        if (traceparent != null) {
            String tracestate = headers.get(TRACESTATE_HEADER);
            context = context.withValue(TRACE_CONTEXT, tracestate == null ? java.util.Map.of("traceparent", traceparent)
                    : java.util.Map.of("traceparent", traceparent, "tracestate", tracestate));
        }
        if (id != null) {
            context = context.withValue(SESSION_ID, id);
        }
        if (authorization != null) {
            context = context.withValue(AUTHORIZATION, authorization);
        }
        return Contexts.interceptCall(context, call, headers, next);
    }
}
