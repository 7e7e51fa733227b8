package dev.igate.gateway.grpc;

import java.io.InputStream;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import com.google.protobuf.UnknownFieldSet;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;

/**
 * Answers a request whose bytes are not a valid protobuf message with INVALID_ARGUMENT, as REST
 * answers malformed JSON with 400. grpc-java on its own cancels such a call as UNKNOWN
 * ("Application error processing RPC") and logs the parse failure's stack trace at every call,
 * which lets any client fill the log.
 *
 * <p>The request marshaller of every method is wrapped: a message that fails to parse becomes an
 * empty message of the method's type carrying the parse error in an unknown field no client
 * schema uses, and an interceptor answers that marker before the handler sees it.
 */
final class InvalidMessages {

    /** The largest field number protobuf allows; no message of the V2 protocol uses it. */
    static final int MARKER_FIELD = 536_870_911;

    private InvalidMessages() {
    }

    /** The service with parse failures answered as INVALID_ARGUMENT, its schema kept for reflection. */
    static ServerServiceDefinition answeredAsInvalidArgument(ServerServiceDefinition service) {
        ServiceDescriptor original = service.getServiceDescriptor();
        ServiceDescriptor.Builder descriptor = ServiceDescriptor.newBuilder(original.getName())
                .setSchemaDescriptor(original.getSchemaDescriptor());
        java.util.List<ServerMethodDefinition<?, ?>> methods = new java.util.ArrayList<>();
        for (ServerMethodDefinition<?, ?> method : service.getMethods()) {
            ServerMethodDefinition<?, ?> lenient = lenient(method);
            descriptor.addMethod(lenient.getMethodDescriptor());
            methods.add(lenient);
        }
        ServerServiceDefinition.Builder b = ServerServiceDefinition.builder(descriptor.build());
        methods.forEach(b::addMethod);
        return ServerInterceptors.intercept(b.build(), new Rejecting());
    }

    private static <Q, A> ServerMethodDefinition<Q, A> lenient(ServerMethodDefinition<Q, A> method) {
        MethodDescriptor<Q, A> descriptor = method.getMethodDescriptor();
        MethodDescriptor.Marshaller<Q> requests = descriptor.getRequestMarshaller();
        if (!(requests instanceof MethodDescriptor.PrototypeMarshaller<Q> proto) || !(proto.getMessagePrototype() instanceof Message)) {
            return method;
        }
        MethodDescriptor<Q, A> wrapped = descriptor.toBuilder(new Lenient<>(proto), descriptor.getResponseMarshaller()).build();
        return ServerMethodDefinition.create(wrapped, method.getServerCallHandler());
    }

    /** Parses as the generated marshaller does, turning a failure into the marker message. */
    private record Lenient<Q>(MethodDescriptor.PrototypeMarshaller<Q> delegate) implements MethodDescriptor.PrototypeMarshaller<Q> {

        @Override
        public InputStream stream(Q value) {
            return delegate.stream(value);
        }

        @Override
        @SuppressWarnings("unchecked")
        public Q parse(InputStream stream) {
            try {
                return delegate.parse(stream);
            } catch (StatusRuntimeException e) {
                Message prototype = (Message) delegate.getMessagePrototype();
                String reason = e.getCause() != null ? e.getCause().getMessage() : e.getStatus().getDescription();
                String problem = "The request is not a valid " + prototype.getDescriptorForType().getFullName() + " message: " + reason;
                return (Q) prototype.toBuilder().setUnknownFields(UnknownFieldSet.newBuilder().addField(MARKER_FIELD,
                        UnknownFieldSet.Field.newBuilder().addLengthDelimited(ByteString.copyFromUtf8(problem)).build()).build()).build();
            }
        }

        @Override
        public Q getMessagePrototype() {
            return delegate.getMessagePrototype();
        }

        @Override
        public Class<Q> getMessageClass() {
            return delegate.getMessageClass();
        }
    }

    /** Closes a call whose message carries the marker with INVALID_ARGUMENT; the handler never runs. */
    private static final class Rejecting implements ServerInterceptor {

        @Override
        public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers, ServerCallHandler<Q, A> next) {
            return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(next.startCall(call, headers)) {
                private boolean rejected;

                @Override
                public void onMessage(Q message) {
                    UnknownFieldSet.Field marker = message instanceof Message m ? m.getUnknownFields().getField(MARKER_FIELD) : null;
                    if (marker != null && !marker.getLengthDelimitedList().isEmpty()) {
                        rejected = true;
                        call.close(Status.INVALID_ARGUMENT.withDescription(marker.getLengthDelimitedList().get(0).toStringUtf8()),
                                new Metadata());
                        return;
                    }
                    super.onMessage(message);
                }

                @Override
                public void onHalfClose() {
                    if (!rejected) {
                        super.onHalfClose();
                    }
                }
            };
        }
    }
}
