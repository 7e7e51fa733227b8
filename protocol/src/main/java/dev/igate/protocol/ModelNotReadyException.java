package dev.igate.protocol;

/** The model exists but is not loaded (still loading, or failed to load): HTTP 503. */
public class ModelNotReadyException extends InferenceException {

    public ModelNotReadyException(String message) {
        super(message);
    }

    @Override
    public int status() {
        return 503;
    }
}
