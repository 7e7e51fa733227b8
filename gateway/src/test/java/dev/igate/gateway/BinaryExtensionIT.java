package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import dev.igate.protocol.Tensor;
import dev.igate.protocol.v2.BinaryTensors;
import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.EntityExchangeResult;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The REST binary tensor data extension gives the same answers as JSON bodies. */
class BinaryExtensionIT extends ServerTestSupport {

    static final JsonMapper JSON = JsonMapper.builder().build();
    static final long[] IDS = {101, 3891, 7667, 13494, 1997, 2609, 1011, 3563, 8700, 5816, 16012, 12462, 11733, 8553, 1012, 102};

    EntityExchangeResult<byte[]> binary(String header, byte[]... tensors) {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        body.writeBytes(json);
        for (byte[] t : tensors) {
            body.writeBytes(t);
        }
        return client.post().uri("/v2/models/{m}/versions/1/infer", MODEL).contentType(MediaType.APPLICATION_OCTET_STREAM)
                .header("Inference-Header-Content-Length", String.valueOf(json.length)).bodyValue(body.toByteArray())
                .exchange().expectBody().returnResult();
    }

    float[] jsonLogits(String body) {
        byte[] out = client.post().uri("/v2/models/{m}/versions/1/infer", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue(body).exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody();
        JsonNode data = JSON.readTree(out).at("/outputs/0/data");
        float[] logits = new float[data.size()];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = data.get(i).floatValue();
        }
        return logits;
    }

    static float[] binaryOutput(EntityExchangeResult<byte[]> r, int index) {
        int headerLength = Integer.parseInt(r.getResponseHeaders().getFirst("Inference-Header-Content-Length"));
        JsonNode header = JSON.readTree(Arrays.copyOf(r.getResponseBody(), headerLength));
        int offset = headerLength;
        for (int i = 0; i < index; i++) {
            JsonNode size = header.at("/outputs/" + i + "/parameters/binary_data_size");
            offset += size.isMissingNode() ? 0 : size.intValue();
        }
        int size = header.at("/outputs/" + index + "/parameters/binary_data_size").intValue();
        ByteBuffer b = ByteBuffer.wrap(r.getResponseBody(), offset, size).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[size / 4];
        b.asFloatBuffer().get(out);
        return out;
    }

    @Test
    void explainTakesTheSameBinaryBodyAsInfer() {
        // what tritonclient sends for a BYTES input with binary_data=True, to /explain
        byte[] text = BinaryTensors.encode(Tensor.ofStrings("t", new long[] {1}, SEED_TEXT));
        String header = "{\"inputs\": [{\"name\": \"t\", \"shape\": [1], \"datatype\": \"BYTES\", \"parameters\": {\"binary_data_size\": "
                + text.length + "}}], \"parameters\": {\"n_steps\": 8}}";
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(header.getBytes(StandardCharsets.UTF_8));
        body.writeBytes(text);

        byte[] binary = client.post().uri("/v2/models/{m}/versions/1/explain", MODEL).contentType(MediaType.APPLICATION_OCTET_STREAM)
                .header("Inference-Header-Content-Length", String.valueOf(header.getBytes(StandardCharsets.UTF_8).length))
                .bodyValue(body.toByteArray()).exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody();
        byte[] json = client.post().uri("/v2/models/{m}/versions/1/explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"inputs\": [{\"name\": \"t\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"" + SEED_TEXT
                        + "\"]}], \"parameters\": {\"n_steps\": 8}}").exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody();

        assertThat(JSON.readTree(binary).at("/outputs/0/data/0/importances")).isEqualTo(JSON.readTree(json).at("/outputs/0/data/0/importances"));
    }

    @Test
    void binaryTextInGivesTheSameLabelAndLogitsAsJson() {
        byte[] text = BinaryTensors.encode(Tensor.ofStrings("t", new long[] {1}, SEED_TEXT));
        String header = "{\"inputs\": [{\"name\": \"t\", \"shape\": [1], \"datatype\": \"BYTES\", \"parameters\": {\"binary_data_size\": "
                + text.length + "}}], \"outputs\": [{\"name\": \"predict\"}, {\"name\": \"logits\", \"parameters\": {\"binary_data\": true}}]}";

        EntityExchangeResult<byte[]> r = binary(header, text);

        assertThat(r.getStatus().value()).isEqualTo(200);
        assertThat(r.getResponseHeaders().getContentType()).isEqualTo(MediaType.APPLICATION_OCTET_STREAM);
        int headerLength = Integer.parseInt(r.getResponseHeaders().getFirst("Inference-Header-Content-Length"));
        assertThat(new String(r.getResponseBody(), 0, headerLength, StandardCharsets.UTF_8)).contains("\"data\":[\"Pharma-Toxico\"]");
        float[] expected = jsonLogits("{\"inputs\": [{\"name\": \"t\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"" + SEED_TEXT
                + "\"]}], \"outputs\": [{\"name\": \"logits\"}]}");
        assertThat(binaryOutput(r, 1)).containsExactly(expected);
    }

    @Test
    void binaryRawTensorsInAndAllOutputsBinaryGiveTheSameLogitsAsJson() {
        long[] ones = new long[IDS.length];
        Arrays.fill(ones, 1);
        byte[] ids = BinaryTensors.encode(Tensor.ofLongs("input_ids", new long[] {1, 16}, IDS));
        byte[] mask = BinaryTensors.encode(Tensor.ofLongs("attention_mask", new long[] {1, 16}, ones));
        String header = "{\"inputs\": [{\"name\": \"input_ids\", \"shape\": [1, 16], \"datatype\": \"INT64\", \"parameters\": {\"binary_data_size\": 128}},"
                + "{\"name\": \"attention_mask\", \"shape\": [1, 16], \"datatype\": \"INT64\", \"parameters\": {\"binary_data_size\": 128}},"
                + "{\"name\": \"token_type_ids\", \"shape\": [1, 16], \"datatype\": \"INT64\", \"data\": " + Arrays.toString(new long[16]) + "}],"
                + "\"parameters\": {\"binary_data_output\": true}}";

        EntityExchangeResult<byte[]> r = binary(header, ids, mask);

        assertThat(r.getStatus().value()).isEqualTo(200);
        float[] expected = jsonLogits("{\"inputs\": [{\"name\": \"input_ids\", \"shape\": [1, 16], \"datatype\": \"INT64\", \"data\": "
                + Arrays.toString(IDS) + "}, {\"name\": \"attention_mask\", \"shape\": [1, 16], \"datatype\": \"INT64\", \"data\": "
                + Arrays.toString(ones) + "}, {\"name\": \"token_type_ids\", \"shape\": [1, 16], \"datatype\": \"INT64\", \"data\": "
                + Arrays.toString(new long[16]) + "}]}");
        assertThat(binaryOutput(r, 0)).containsExactly(expected);
    }

    @Test
    void badBinaryBodiesAre400AndTheExtensionIsAdvertised() {
        EntityExchangeResult<byte[]> shortBody = binary("{\"inputs\": [{\"name\": \"input_ids\", \"shape\": [1, 16], \"datatype\": \"INT64\","
                + " \"parameters\": {\"binary_data_size\": 128}}]}", new byte[100]);
        assertThat(shortBody.getStatus().value()).isEqualTo(400);
        assertThat(new String(shortBody.getResponseBody(), StandardCharsets.UTF_8)).contains("only 100 remain");

        client.post().uri("/v2/models/{m}/infer", MODEL).header("Inference-Header-Content-Length", "x").bodyValue("{}")
                .exchange().expectStatus().isBadRequest().expectBody().jsonPath("$.error")
                .isEqualTo("Inference-Header-Content-Length must be a non-negative integer, was x");
        client.get().uri("/v2").exchange().expectBody().jsonPath("$.extensions").value(e -> assertThat(e.toString()).contains("binary_tensor_data"));
    }
}
