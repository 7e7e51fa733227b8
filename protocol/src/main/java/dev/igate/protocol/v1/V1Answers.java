package dev.igate.protocol.v1;

import java.util.List;

/** The V1 answers whose shape is fixed, as records the shared mapper writes. */
public final class V1Answers {

    private V1Answers() {
    }

    /** {@code GET /v1/models}. */
    public record Models(List<String> models) {
    }

    /** {@code GET /v1/models/{m}}. */
    public record ModelStatus(String name, boolean ready) {
    }

    /** {@code GET /}: KServe's V1 liveness, which its Python client's is_server_live() reads. */
    public record Status(String status) {
    }
}
