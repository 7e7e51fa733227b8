package dev.igate.protocol;

/** The runtime failed on a request that passed validation: HTTP 500. */
public class InferenceFailedException extends InferenceException {

    public InferenceFailedException(String message, Throwable cause) {
        super(message, cause);
    }

    @Override
    public int status() {
        return 500;
    }
}
