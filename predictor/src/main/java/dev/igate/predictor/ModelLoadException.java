package dev.igate.predictor;

/** A model version could not be loaded; the message says why without leaking absolute paths. */
public class ModelLoadException extends Exception {

    public ModelLoadException(String message, Throwable cause) {
        super(message, cause);
    }

    public ModelLoadException(String message) {
        super(message);
    }
}
