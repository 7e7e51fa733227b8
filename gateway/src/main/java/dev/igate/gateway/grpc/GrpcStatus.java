package dev.igate.gateway.grpc;

import dev.igate.gateway.http.ErrorStatus;
import dev.igate.protocol.ForbiddenException;
import dev.igate.protocol.InferenceException;
import dev.igate.protocol.InferenceFailedException;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.ModelNotFoundException;
import dev.igate.protocol.ModelNotReadyException;
import dev.igate.protocol.NotImplementedException;
import dev.igate.protocol.ServerBusyException;
import dev.igate.protocol.UnauthorizedException;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one place that maps the error hierarchy to gRPC status codes, as {@code ErrorResponses}
 * maps it to HTTP: invalid input INVALID_ARGUMENT, unknown model NOT_FOUND, model not ready
 * UNAVAILABLE, a request whose queue timeout expired UNAVAILABLE (as Triton), a full queue
 * RESOURCE_EXHAUSTED (with the wait in the grpc-retry-pushback-ms trailer, as REST sends
 * Retry-After), a load that failed INVALID_ARGUMENT (as Triton), not implemented UNIMPLEMENTED,
 * inference failure INTERNAL with its message, and anything unexpected INTERNAL with a generic one.
 */
final class GrpcStatus {

    private static final Logger log = LoggerFactory.getLogger(GrpcStatus.class);
    static final int MAX_DESCRIPTION = 1024;
    static final Metadata.Key<String> RETRY_PUSHBACK = Metadata.Key.of("grpc-retry-pushback-ms", Metadata.ASCII_STRING_MARSHALLER);

    private GrpcStatus() {
    }

    static StatusRuntimeException of(Throwable error, String method) {
        Throwable e = ErrorStatus.unwrap(error);
        if (e instanceof StatusRuntimeException sre) {
            return sre;
        }
        if (!(e instanceof InferenceException) || e instanceof InferenceFailedException) {
            log.warn("gRPC {} failed", method, e);
        } else {
            log.debug("gRPC {}: {}", method, e.getMessage());
        }
        Status status;
        if (e instanceof InvalidInputException || e instanceof dev.igate.protocol.LoadFailedException) {
            status = Status.INVALID_ARGUMENT;
        } else if (e instanceof ModelNotFoundException) {
            status = Status.NOT_FOUND;
        } else if (e instanceof dev.igate.protocol.QueueTimeoutException) {
            status = Status.UNAVAILABLE;
        } else if (e instanceof ServerBusyException) {
            status = Status.RESOURCE_EXHAUSTED;
        } else if (e instanceof ModelNotReadyException) {
            status = Status.UNAVAILABLE;
        } else if (e instanceof NotImplementedException) {
            status = Status.UNIMPLEMENTED;
        } else if (e instanceof UnauthorizedException) {
            status = Status.UNAUTHENTICATED;
        } else if (e instanceof ForbiddenException) {
            status = Status.PERMISSION_DENIED;
        } else if (e instanceof InferenceException) {
            status = Status.INTERNAL;
        } else {
            return Status.INTERNAL.withDescription("Internal error").asRuntimeException();
        }
        Metadata trailers = new Metadata();
        if (e instanceof ServerBusyException busy && busy.retryAfter() != null) {
            // gRPC's form of Retry-After: grpc-java and grpc-go clients with a retry policy wait this long
            trailers.put(RETRY_PUSHBACK, String.valueOf(Math.max(1, busy.retryAfter().toMillis())));
        }
        return status.withDescription(bounded(e.getMessage())).asRuntimeException(trailers);
    }

    /**
     * A description short enough for any client's header limits: messages quote names the client
     * sent, which over gRPC may be megabytes long, and a description over the client's limit
     * arrives as a reset stream instead of the status.
     */
    static String bounded(String description) {
        return description == null || description.length() <= MAX_DESCRIPTION ? description
                : description.substring(0, MAX_DESCRIPTION) + "…";
    }
}
