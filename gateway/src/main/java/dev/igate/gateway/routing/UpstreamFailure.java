package dev.igate.gateway.routing;

import java.io.IOException;
import java.util.concurrent.TimeoutException;

import org.springframework.web.server.ResponseStatusException;

/**
 * How a call to a remote revision failed, when it failed before an answer came: the status the
 * client gets for it (never 500) and whether sending the call elsewhere is safe.
 */
public enum UpstreamFailure {

    /** Could not connect (refused, connect timeout): 503, nothing reached the revision. */
    UNAVAILABLE(503, "unavailable"),
    /** The connection broke before the answer (reset, closed early): 502. */
    BROKEN(502, "closed the connection before answering"),
    /** No answer within the response timeout: 504, and not retried, since the call may still be running. */
    TIMED_OUT(504, "did not answer in time");

    private final int status;
    private final String description;

    UpstreamFailure(int status, String description) {
        this.status = status;
        this.description = description;
    }

    public int status() {
        return status;
    }

    public String description() {
        return description;
    }

    /** Whether another revision may take the call: predictions are idempotent, and this one gave no answer. */
    public boolean retryable() {
        return this != TIMED_OUT;
    }

    /** The kind of an upstream failure, or null when {@code e} is not one (the call's own error). */
    public static UpstreamFailure of(Throwable e) {
        if (RouteHealth.causedByConnection(e)) {
            return UNAVAILABLE;
        }
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof TimeoutException || t.getClass().getName().contains("ReadTimeoutException")
                    || t instanceof ResponseStatusException rse && rse.getStatusCode().value() == 504) {
                return TIMED_OUT;
            }
            if (t instanceof IOException || t.getClass().getName().startsWith("reactor.netty.channel.AbortedException")) {
                return BROKEN;
            }
        }
        return null;
    }
}
