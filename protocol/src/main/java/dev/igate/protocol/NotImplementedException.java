package dev.igate.protocol;

/** The operation exists in the protocol but this model or server does not offer it: HTTP 501. */
public class NotImplementedException extends InferenceException {

    public NotImplementedException(String message) {
        super(message);
    }

    @Override
    public int status() {
        return 501;
    }
}
