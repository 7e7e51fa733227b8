package dev.igate.protocol;

/**
 * Root of every error the server answers on purpose. Each subclass fixes the HTTP status it
 * maps to; the message is what the client reads in {@code {"error": "..."}}, so it must name
 * the problem and never carry file paths or stack traces.
 */
public abstract class InferenceException extends RuntimeException {

    protected InferenceException(String message) {
        super(message, null, false, false);
    }

    protected InferenceException(String message, Throwable cause) {
        super(message, cause, false, true);
    }

    /** The HTTP status this error is answered with. */
    public abstract int status();
}
