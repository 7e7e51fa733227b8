package dev.igate.gateway.http;

import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

import dev.igate.protocol.InferenceException;
import org.springframework.core.io.buffer.DataBufferLimitException;
import org.springframework.web.server.ResponseStatusException;

/** Unwraps the wrappers that futures put around the error a stage threw, and reads its status. */
public final class ErrorStatus {

    private ErrorStatus() {
    }

    public static Throwable unwrap(Throwable e) {
        Throwable t = e;
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    /**
     * The HTTP status an error is answered with: its own for the project's errors and for status
     * exceptions, 413 for a body past the limit, 500 for anything else.
     */
    public static int httpStatus(Throwable e) {
        Throwable t = unwrap(e);
        if (t instanceof InferenceException ie) {
            return ie.status();
        }
        if (t instanceof ResponseStatusException rse) {
            return rse.getStatusCode().value();
        }
        if (t instanceof DataBufferLimitException || t.getCause() instanceof DataBufferLimitException) {
            return 413;
        }
        return 500;
    }

    /** The {@code outcome} tag of an answer with this HTTP status: success, client_error or server_error. */
    public static String outcome(int status) {
        return status < 400 ? "success" : status < 500 ? "client_error" : "server_error";
    }
}
