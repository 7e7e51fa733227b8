package dev.igate.protocol;

import java.time.Duration;

/**
 * A request still queued when its timeout expired: answered without running, HTTP 503 (gRPC
 * UNAVAILABLE, as Triton answers an expired request; a full queue is RESOURCE_EXHAUSTED).
 */
public class QueueTimeoutException extends ServerBusyException {

    public QueueTimeoutException(String message, Duration retryAfter) {
        super(message, retryAfter);
    }
}
