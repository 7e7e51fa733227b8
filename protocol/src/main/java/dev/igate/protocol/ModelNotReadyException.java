package dev.igate.protocol;

/**
 * The model exists but cannot serve now: HTTP 503. Retryable (see {@link #retryable()}) when it is
 * loading, being replaced or unloaded under the request, or its remote predictor does not answer;
 * not when the version failed to load, which only an operator's fix changes.
 */
public class ModelNotReadyException extends InferenceException {

    private final boolean retryable;

    /** A state that passes by itself (loading, replaced, a remote predictor down): retryable. */
    public ModelNotReadyException(String message) {
        this(message, true);
    }

    public ModelNotReadyException(String message, boolean retryable) {
        super(message);
        this.retryable = retryable;
    }

    /** A version that failed to load: it stays so until an operator fixes its files and reloads it. */
    public static ModelNotReadyException failed(String message) {
        return new ModelNotReadyException(message, false);
    }

    @Override
    public boolean retryable() {
        return retryable;
    }

    @Override
    public int status() {
        return 503;
    }
}
