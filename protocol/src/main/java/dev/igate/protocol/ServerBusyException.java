package dev.igate.protocol;

import java.time.Duration;

/** A bounded queue is full; the client should retry after {@link #retryAfter()}: HTTP 503. */
public class ServerBusyException extends InferenceException {

    private final Duration retryAfter;

    public ServerBusyException(String message, Duration retryAfter) {
        super(message);
        this.retryAfter = retryAfter;
    }

    public Duration retryAfter() {
        return retryAfter;
    }

    @Override
    public int status() {
        return 503;
    }

    /** A full queue empties: always worth another try. */
    @Override
    public boolean retryable() {
        return true;
    }
}
