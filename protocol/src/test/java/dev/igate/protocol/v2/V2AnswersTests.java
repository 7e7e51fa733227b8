package dev.igate.protocol.v2;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import dev.igate.protocol.Datatype;
import dev.igate.protocol.Json;
import dev.igate.protocol.ModelMetadata;
import dev.igate.protocol.TensorMetadata;
import org.junit.jupiter.api.Test;

class V2AnswersTests {

    static String json(Object answer) {
        return new String(Json.writeValue(answer), StandardCharsets.UTF_8);
    }

    @Test
    void metadataListsTensorsInOrderAndParametersOnlyWhenThereAreSome() {
        ModelMetadata m = new ModelMetadata("m", List.of("1", "2"), "onnxruntime_onnx",
                List.of(new TensorMetadata("input_ids", Datatype.INT64, new long[] {-1, -1})),
                List.of(new TensorMetadata("logits", Datatype.FP32, new long[] {-1, 3})), Map.of());
        assertThat(new String(V2Codec.encodeMetadata(m), StandardCharsets.UTF_8)).isEqualTo("{\"name\":\"m\",\"versions\":[\"1\",\"2\"],"
                + "\"platform\":\"onnxruntime_onnx\",\"inputs\":[{\"name\":\"input_ids\",\"datatype\":\"INT64\",\"shape\":[-1,-1]}],"
                + "\"outputs\":[{\"name\":\"logits\",\"datatype\":\"FP32\",\"shape\":[-1,3]}]}");
        ModelMetadata with = new ModelMetadata("m", List.of("1"), "p", List.of(), List.of(), Map.of("max_latency_ms", 5.0));
        assertThat(new String(V2Codec.encodeMetadata(with), StandardCharsets.UTF_8))
                .isEqualTo("{\"name\":\"m\",\"versions\":[\"1\"],\"platform\":\"p\",\"inputs\":[],\"outputs\":[],\"parameters\":{\"max_latency_ms\":5.0}}");
    }

    @Test
    void readinessCarriesTheReasonAndErrorOnlyWhenNotReadyAndTheNameOnlyWhenKnown() {
        assertThat(json(V2Answers.ModelReady.of("m", true, "ignored"))).isEqualTo("{\"name\":\"m\",\"ready\":true}");
        assertThat(json(V2Answers.ModelReady.of(null, false, "Model x not found")))
                .isEqualTo("{\"ready\":false,\"reason\":\"Model x not found\",\"error\":\"Model x not found\"}");
        assertThat(json(new V2Answers.ServerMetadata("igate", "1", List.of("a")))).isEqualTo("{\"name\":\"igate\",\"version\":\"1\",\"extensions\":[\"a\"]}");
        assertThat(new String(Json.error("bad \"x\""), StandardCharsets.UTF_8)).isEqualTo("{\"error\":\"bad \\\"x\\\"\"}");
    }
}
