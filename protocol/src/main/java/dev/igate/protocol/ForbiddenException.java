package dev.igate.protocol;

/** An operation that this server refuses outright, e.g. the admin API with no token configured: HTTP 403. */
public class ForbiddenException extends InferenceException {

    public ForbiddenException(String message) {
        super(message);
    }

    @Override
    public int status() {
        return 403;
    }
}
