package dev.igate.protocol.v2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import dev.igate.protocol.Datatype;
import dev.igate.protocol.InferenceRequest;
import dev.igate.protocol.InferenceResponse;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Json;
import dev.igate.protocol.Tensor;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

class BinaryTensorsTests {

    static Tensor roundTrip(Tensor t) {
        byte[] bytes = BinaryTensors.encode(t);
        return new Tensor(t.name(), t.datatype(), t.shape(), BinaryTensors.decode(t.name(), t.datatype(), t.size(), ByteBuffer.wrap(bytes)));
    }

    @Test
    void everyDatatypeRoundTripsLittleEndian() {
        long[] s = {2};
        for (Tensor t : List.of(new Tensor("a", Datatype.BOOL, s, new boolean[] {true, false}),
                new Tensor("b", Datatype.UINT8, s, new byte[] {1, (byte) 255}), new Tensor("c", Datatype.INT16, s, new short[] {-2, 3}),
                new Tensor("d", Datatype.INT32, s, new int[] {-5, 7}), new Tensor("e", Datatype.INT64, s, new long[] {1L << 40, -1}),
                new Tensor("f", Datatype.FP32, s, new float[] {1.5f, -2.25f}), new Tensor("g", Datatype.FP64, s, new double[] {0.1, 2}),
                new Tensor("h", Datatype.FP16, s, new float[] {1.5f, -0.125f}), new Tensor("i", Datatype.BF16, s, new float[] {2f, -3f}),
                Tensor.ofStrings("j", s, "héllo", ""))) {
            assertThat(roundTrip(t)).as(t.datatype().name()).isEqualTo(t);
        }
        assertThat(BinaryTensors.encode(Tensor.ofLongs("x", new long[] {1}, new long[] {1}))).containsExactly(1, 0, 0, 0, 0, 0, 0, 0);
        assertThat(BinaryTensors.encode(Tensor.ofStrings("x", new long[] {1}, "ab"))).containsExactly(2, 0, 0, 0, 'a', 'b');
    }

    @Test
    void byteCountsThatDisagreeWithTheShapeAreRejected() {
        assertThatThrownBy(() -> BinaryTensors.decode("x", Datatype.INT64, 2, ByteBuffer.allocate(12)))
                .isInstanceOf(InvalidInputException.class).hasMessageContaining("12 bytes of binary data, but 2 INT64 elements take 16");
        assertThatThrownBy(() -> BinaryTensors.decode("x", Datatype.BYTES, 1, ByteBuffer.wrap(new byte[] {9, 0, 0, 0, 'a'})))
                .hasMessageContaining("BYTES element of length 9");
        assertThatThrownBy(() -> BinaryTensors.decode("x", Datatype.BYTES, 1, ByteBuffer.wrap(new byte[] {1, 0, 0, 0, 'a', 'b'})))
                .hasMessageContaining("1 bytes after");
        float nan = Float.NaN;
        assertThatThrownBy(() -> BinaryTensors.decode("x", Datatype.FP32, 1,
                ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(0, nan))).hasMessageContaining("non-finite");
    }

    static byte[] body(String json, byte[]... binary) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(json.getBytes(StandardCharsets.UTF_8));
        for (byte[] b : binary) {
            out.writeBytes(b);
        }
        return out.toByteArray();
    }

    @Test
    void requestMixesBinaryAndJsonInputsInOrderAndMarksBinaryOutputs() {
        byte[] ids = BinaryTensors.encode(Tensor.ofLongs("ids", new long[] {1, 2}, new long[] {101, 102}));
        byte[] text = BinaryTensors.encode(Tensor.ofStrings("t", new long[] {1}, "hi"));
        String json = "{\"inputs\": [{\"name\": \"ids\", \"shape\": [1, 2], \"datatype\": \"INT64\", \"parameters\": {\"binary_data_size\": 16}},"
                + "{\"name\": \"mask\", \"shape\": [1, 2], \"datatype\": \"INT64\", \"data\": [1, 1]},"
                + "{\"name\": \"t\", \"shape\": [1], \"datatype\": \"BYTES\", \"parameters\": {\"binary_data_size\": 6}}],"
                + "\"outputs\": [{\"name\": \"logits\", \"parameters\": {\"binary_data\": true}}, {\"name\": \"predict\"}]}";

        InferenceRequest r = V2Codec.decodeInfer("m", null, body(json, ids, text), json.length());

        assertThat(r.inputs().get(0).longs()).containsExactly(101, 102);
        assertThat(r.inputs().get(1).longs()).containsExactly(1, 1);
        assertThat(r.inputs().get(2).strings()).containsExactly("hi");
        assertThat(r.binary("logits")).isTrue();
        assertThat(r.binary("predict")).isFalse();
    }

    @Test
    void inconsistentBinaryBodiesAreRejected() {
        String json = "{\"inputs\": [{\"name\": \"ids\", \"shape\": [2], \"datatype\": \"INT64\", \"parameters\": {\"binary_data_size\": 16}}]}";
        byte[] sixteen = new byte[16];
        assertThatThrownBy(() -> V2Codec.decodeInfer("m", null, body(json, new byte[8]), json.length()))
                .hasMessageContaining("only 8 remain");
        assertThatThrownBy(() -> V2Codec.decodeInfer("m", null, body(json, sixteen, new byte[3]), json.length()))
                .hasMessageContaining("3 bytes of binary data follow");
        assertThatThrownBy(() -> V2Codec.decodeInfer("m", null, body(json, sixteen), json.length() + 100))
                .hasMessageContaining("exceeds the body");
        assertThatThrownBy(() -> V2Codec.decodeInfer("m", null, body(json, sixteen), 5)).hasMessageContaining("Malformed JSON");
    }

    @Test
    void responseCarriesRequestedOutputsAfterTheJson() {
        InferenceRequest request = new InferenceRequest(null, "m", null, List.of(Tensor.ofLongs("x", new long[] {1}, new long[] {1})),
                List.of(), Map.of(), java.util.Set.of(InferenceRequest.ALL_OUTPUTS));
        InferenceResponse response = new InferenceResponse("id-1", "m", "1",
                List.of(Tensor.ofFloats("logits", new long[] {1, 2}, new float[] {1.5f, -1f})), Map.of());

        V2Codec.BinaryBody encoded = V2Codec.encodeInferBinary(response, request);

        JsonNode header = Json.MAPPER.readTree(java.util.Arrays.copyOf(encoded.body(), encoded.headerLength()));
        assertThat(header.at("/outputs/0/parameters/binary_data_size").intValue()).isEqualTo(8);
        assertThat(header.at("/outputs/0").has("data")).isFalse();
        ByteBuffer tail = ByteBuffer.wrap(encoded.body(), encoded.headerLength(), 8).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(tail.getFloat()).isEqualTo(1.5f);
        assertThat(tail.getFloat()).isEqualTo(-1f);
    }
}
