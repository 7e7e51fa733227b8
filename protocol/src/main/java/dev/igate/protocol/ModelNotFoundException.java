package dev.igate.protocol;

/** No model, or no version of it, has that name: HTTP 404. */
public class ModelNotFoundException extends InferenceException {

    public ModelNotFoundException(String message) {
        super(message);
    }

    public static ModelNotFoundException model(String name) {
        return new ModelNotFoundException("Model " + name + " not found");
    }

    public static ModelNotFoundException version(String name, String version) {
        return new ModelNotFoundException("Model " + name + " has no version " + version);
    }

    @Override
    public int status() {
        return 404;
    }
}
