package dev.igate.protocol;

/** An admin call without a valid bearer token: HTTP 401. */
public class UnauthorizedException extends InferenceException {

    public UnauthorizedException(String message) {
        super(message);
    }

    @Override
    public int status() {
        return 401;
    }
}
