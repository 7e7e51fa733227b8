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

    /**
     * Whether the same request may succeed later as it is, without anyone changing anything: a
     * full queue, a version still loading or being replaced, a remote predictor that does not
     * answer now. A transport that can wait (Kafka) keeps such a request and tries it again instead
     * of giving up on it; REST and gRPC answer it (503, UNAVAILABLE or RESOURCE_EXHAUSTED) and the
     * client decides. Transports decide by this, never by a message's text.
     */
    public boolean retryable() {
        return false;
    }
}
