package dev.igate.protocol.v2;

import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.annotation.JsonInclude;
import dev.igate.protocol.ModelMetadata;
import dev.igate.protocol.TensorMetadata;

/** The V2 answers whose shape is fixed, as records the shared mapper writes (the infer and explain answers are built by V2Codec). */
public final class V2Answers {

    private V2Answers() {
    }

    /** {@code GET /v2}. */
    public record ServerMetadata(String name, String version, List<String> extensions) {
    }

    /** {@code GET /v2/health/live}. */
    public record Live(boolean live) {
    }

    /** {@code GET /v2/health/ready}. */
    public record Ready(boolean ready) {
    }

    /**
     * {@code GET /v2/models/{m}[/versions/{v}]/ready}: the name only for a model the server has, the
     * reason (also as the error every 4xx answer carries) only when it is not ready.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record ModelReady(String name, boolean ready, String reason, String error) {
        public static ModelReady of(String name, boolean ready, String reason) {
            return new ModelReady(name, ready, ready ? null : reason, ready ? null : reason);
        }
    }

    /** A tensor's name, datatype and shape, as metadata lists them. */
    public record TensorShape(String name, String datatype, long[] shape) {
        static List<TensorShape> of(List<TensorMetadata> tensors) {
            return tensors.stream().map(t -> new TensorShape(t.name(), t.datatype().name(), t.shape())).toList();
        }
    }

    /** {@code GET /v2/models/{m}[/versions/{v}]}: parameters only when there are some. */
    public record Metadata(String name, List<String> versions, String platform, List<TensorShape> inputs, List<TensorShape> outputs,
                           @JsonInclude(JsonInclude.Include.NON_EMPTY) Map<String, Object> parameters) {
        public static Metadata of(ModelMetadata m) {
            return new Metadata(m.name(), m.versions(), m.platform(), TensorShape.of(m.inputs()), TensorShape.of(m.outputs()),
                    m.parameters());
        }
    }
}
