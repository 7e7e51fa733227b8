package dev.igate.benchmark;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import dev.igate.protocol.InferenceRequest;
import dev.igate.protocol.Tensor;
import dev.igate.protocol.v2.BinaryTensors;
import dev.igate.protocol.v2.V2Codec;

/**
 * A raw-tensor request for the protocol comparison: {@link #ROWS} rows of {@link #TOKENS} token
 * ids (the seed sentence's ids, repeated) with their attention mask and token types, the three
 * INT64 inputs of the demo model. {@code main} writes it as a V2 JSON body, as a binary tensor
 * data body, and the binary body's JSON header length, for hey to send.
 *
 * <p>Usage: {@code TensorRequests dir} writes {@code tensors.json}, {@code tensors.bin} and
 * {@code tensors.header-length}.
 */
public final class TensorRequests {

    static final int ROWS = 8;
    static final int TOKENS = 64;
    private static final long[] SEED_IDS = {101, 3891, 7667, 13494, 1997, 2609, 1011, 3563, 8700, 5816, 16012, 12462,
            11733, 8553, 1012, 102};

    static List<Tensor> inputs() {
        long[] shape = {ROWS, TOKENS};
        long[] ids = new long[ROWS * TOKENS];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = SEED_IDS[i % SEED_IDS.length];
        }
        long[] mask = new long[ids.length];
        Arrays.fill(mask, 1);
        return List.of(Tensor.ofLongs("input_ids", shape, ids), Tensor.ofLongs("attention_mask", shape, mask),
                Tensor.ofLongs("token_type_ids", shape, new long[ids.length]));
    }

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args[0]);
        List<Tensor> inputs = inputs();
        Files.write(dir.resolve("tensors.json"), V2Codec.encodeInferRequest(null, inputs, List.of()));
        StringBuilder header = new StringBuilder("{\"inputs\": [");
        java.io.ByteArrayOutputStream data = new java.io.ByteArrayOutputStream();
        for (int i = 0; i < inputs.size(); i++) {
            Tensor t = inputs.get(i);
            byte[] bytes = BinaryTensors.encode(t);
            header.append(i == 0 ? "" : ", ").append("{\"name\": \"").append(t.name()).append("\", \"shape\": [")
                    .append(ROWS).append(", ").append(TOKENS).append("], \"datatype\": \"INT64\", \"parameters\": {\"binary_data_size\": ")
                    .append(bytes.length).append("}}");
            data.writeBytes(bytes);
        }
        byte[] json = header.append("]}").toString().getBytes(StandardCharsets.UTF_8);
        byte[] body = Arrays.copyOf(json, json.length + data.size());
        System.arraycopy(data.toByteArray(), 0, body, json.length, data.size());
        Files.write(dir.resolve("tensors.bin"), body);
        Files.writeString(dir.resolve("tensors.header-length"), String.valueOf(json.length));
        // a quick self-check: the binary body decodes to the same request as the JSON one
        InferenceRequest fromJson = V2Codec.decodeInfer("m", null, Files.readAllBytes(dir.resolve("tensors.json")));
        InferenceRequest fromBinary = V2Codec.decodeInfer("m", null, body, json.length);
        if (!fromJson.inputs().equals(fromBinary.inputs())) {
            throw new IllegalStateException("binary and JSON bodies disagree");
        }
    }
}
