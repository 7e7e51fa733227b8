package dev.igate.gateway.grpc;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;

/**
 * Makes a call's {@code x-session-id} metadata (gRPC's form of REST's X-Session-Id header)
 * available to the handler, for sticky canary routing, and its {@code authorization} metadata,
 * for the calls behind the admin bearer token.
 */
class SessionIdInterceptor implements ServerInterceptor {

    static final Metadata.Key<String> HEADER = Metadata.Key.of("x-session-id", Metadata.ASCII_STRING_MARSHALLER);
    static final Context.Key<String> SESSION_ID = Context.key("igate-session-id");
    static final Metadata.Key<String> AUTHORIZATION_HEADER = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    static final Context.Key<String> AUTHORIZATION = Context.key("igate-authorization");

    @Override
    public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers, ServerCallHandler<Q, A> next) {
        String id = headers.get(HEADER);
        String authorization = headers.get(AUTHORIZATION_HEADER);
        if (id == null && authorization == null) {
            return next.startCall(call, headers);
        }
        Context context = Context.current();
        if (id != null) {
            context = context.withValue(SESSION_ID, id);
        }
        if (authorization != null) {
            context = context.withValue(AUTHORIZATION, authorization);
        }
        return Contexts.interceptCall(context, call, headers, next);
    }
}
