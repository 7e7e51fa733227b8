package dev.igate.protocol;

/**
 * An explicit load (Triton's repository load, the admin load) that left a version of the model
 * failed: HTTP 400 (gRPC INVALID_ARGUMENT), with each failed version's reason, as Triton answers a
 * load that failed. What did load has taken over; when nothing of the new load serves, the versions
 * that served before keep serving.
 */
public class LoadFailedException extends InferenceException {

    public LoadFailedException(String message) {
        super(message);
    }

    @Override
    public int status() {
        return 400;
    }
}
