package dev.igate.gateway.model;

/**
 * Where one model version stands.
 *
 * @param status LOADING, READY or FAILED
 * @param reason why it failed, null otherwise
 * @param model  the loaded version, non-null only when READY
 */
public record VersionState(Status status, String reason, ServedModel model) {

    public enum Status { LOADING, READY, FAILED }

    static final VersionState LOADING = new VersionState(Status.LOADING, null, null);

    static VersionState ready(ServedModel model) {
        return new VersionState(Status.READY, null, model);
    }

    static VersionState failed(String reason) {
        return new VersionState(Status.FAILED, reason, null);
    }

    public boolean isReady() {
        return status == Status.READY;
    }
}
