package dev.igate.gateway.serving;

import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/** Unwraps the wrappers that futures put around the error a stage threw. */
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
}
