package dev.igate.gateway.grpc;

import java.io.InputStream;
import java.util.List;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
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
 * empty message of the method's type carrying the status in unknown fields no client schema
 * uses, and an interceptor answers that marker before the handler sees it. The same path keeps
 * RESOURCE_EXHAUSTED for a compressed message that inflates past the size limit, which grpc-java
 * would also turn into UNKNOWN.
 */
final class InvalidMessages {

    /** The largest field number protobuf allows, and the one below it; no message of the V2 protocol uses them. */
    static final int MARKER_FIELD = 536_870_911;
    static final int CODE_FIELD = 536_870_910;

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
                // a parse failure is the client's malformed message; any other failure while reading (a
                // compressed message over the size limit: RESOURCE_EXHAUSTED) keeps its own status
                Status status = e.getStatus().getCode() == Status.Code.INTERNAL && e.getCause() instanceof InvalidProtocolBufferException
                        ? Status.INVALID_ARGUMENT.withDescription("The request is not a valid "
                        + prototype.getDescriptorForType().getFullName() + " message: " + e.getCause().getMessage())
                        : e.getStatus();
                return (Q) prototype.toBuilder().setUnknownFields(UnknownFieldSet.newBuilder()
                        .addField(MARKER_FIELD, UnknownFieldSet.Field.newBuilder()
                                .addLengthDelimited(ByteString.copyFromUtf8(String.valueOf(GrpcStatus.bounded(status.getDescription()))))
                                .build())
                        .addField(CODE_FIELD, UnknownFieldSet.Field.newBuilder().addVarint(status.getCode().value()).build())
                        .build()).build();
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
                    if (rejected) {
                        // a second message in the same call (a unary call asks for two to detect it): already closed
                        return;
                    }
                    UnknownFieldSet.Field marker = message instanceof Message m ? m.getUnknownFields().getField(MARKER_FIELD) : null;
                    if (marker != null && !marker.getLengthDelimitedList().isEmpty()) {
                        rejected = true;
                        List<Long> codes = ((Message) message).getUnknownFields().getField(CODE_FIELD).getVarintList();
                        Status status = codes.isEmpty() ? Status.INVALID_ARGUMENT : Status.fromCodeValue(codes.get(0).intValue());
                        call.close(status.withDescription(GrpcStatus.bounded(marker.getLengthDelimitedList().get(0).toStringUtf8())),
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
