package dev.igate.gateway.grpc;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;

/**
 * Makes a call's {@code x-session-id} metadata (gRPC's form of REST's X-Session-Id header)
 * available to the handler, for sticky canary routing.
 */
class SessionIdInterceptor implements ServerInterceptor {

    static final Metadata.Key<String> HEADER = Metadata.Key.of("x-session-id", Metadata.ASCII_STRING_MARSHALLER);
    static final Context.Key<String> SESSION_ID = Context.key("igate-session-id");

    @Override
    public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers, ServerCallHandler<Q, A> next) {
        String id = headers.get(HEADER);
        return id == null ? next.startCall(call, headers) : Contexts.interceptCall(Context.current().withValue(SESSION_ID, id), call, headers, next);
    }
}
