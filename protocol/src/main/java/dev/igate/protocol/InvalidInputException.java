package dev.igate.protocol;

/** The request is malformed or does not fit the model: HTTP 400. */
public class InvalidInputException extends InferenceException {

    public InvalidInputException(String message) {
        super(message);
    }

    @Override
    public int status() {
        return 400;
    }
}
