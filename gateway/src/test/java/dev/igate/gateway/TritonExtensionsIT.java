package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import dev.igate.gateway.grpc.GrpcServer;
import dev.igate.grpc.v2.GRPCInferenceServiceGrpc;
import dev.igate.grpc.v2.InferParameter;
import dev.igate.grpc.v2.ModelInferRequest;
import dev.igate.grpc.v2.ModelInferResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.http.MediaType;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Triton's extensions as its clients call them, over REST and gRPC, against the demo model:
 * requests shaped as tritonclient sends them.
 */
class TritonExtensionsIT extends ServerTestSupport {

    static final JsonMapper JSON = JsonMapper.builder().build();

    @Autowired
    GrpcServer grpc;

    ManagedChannel channel;
    GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub stub;

    @BeforeEach
    void connect() {
        channel = GrpcClients.channel(grpc.port());
        stub = GRPCInferenceServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    @AfterEach
    void disconnect() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    JsonNode post(String path, String body, int status) {
        byte[] bytes = client.post().uri(path).contentType(MediaType.APPLICATION_JSON).bodyValue(body)
                .exchange().expectStatus().isEqualTo(status).expectBody().returnResult().getResponseBody();
        return JSON.readTree(bytes);
    }

    static String textBody(String outputs) {
        return "{\"inputs\": [{\"name\": \"TEXT\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"" + SEED_TEXT + "\"]}],"
                + " \"outputs\": " + outputs + "}";
    }

    /** The top k of a row of logits as Triton writes them: "value:index:label", largest first. */
    static List<String> expectedTop(JsonNode logits, int k, List<String> labels) {
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < logits.size(); i++) {
            order.add(i);
        }
        order.sort((a, b) -> Float.compare(logits.get(b).floatValue(), logits.get(a).floatValue()));
        List<String> out = new ArrayList<>();
        for (int j = 0; j < k; j++) {
            int i = order.get(j);
            out.add(String.format(java.util.Locale.ROOT, "%f:%d:%s", logits.get(i).floatValue(), i, labels.get(i)));
        }
        return out;
    }

    static final List<String> LABELS = List.of("Pharma-Toxico", "Oncology", "Neuroscience", "Ecology", "Materials-Science",
            "Computer-Science");

    @Test
    void classificationOutputParameterAnswersTheTopClassesAsTritonDoes() {
        // tritonclient.http.InferRequestedOutput("logits", class_count=3)
        JsonNode logits = post("/v2/models/" + MODEL + "/versions/1/infer", textBody("[{\"name\": \"logits\"}]"), 200).at("/outputs/0/data");
        JsonNode top = post("/v2/models/" + MODEL + "/versions/1/infer",
                textBody("[{\"name\": \"logits\", \"parameters\": {\"classification\": 3}}]"), 200).at("/outputs/0");

        assertThat(top.get("datatype").stringValue()).isEqualTo("BYTES");
        assertThat(top.get("shape").toString()).isEqualTo("[1,3]");
        List<String> got = new ArrayList<>();
        top.get("data").forEach(n -> got.add(n.stringValue()));
        assertThat(got).isEqualTo(expectedTop(logits, 3, LABELS));

        // tritonclient.grpc.InferRequestedOutput("logits", class_count=2): an int64 parameter
        ModelInferResponse grpcTop = stub.modelInfer(GrpcIT.textRequest("1", false, null, SEED_TEXT).toBuilder()
                .addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder().setName("logits")
                        .putParameters("classification", InferParameter.newBuilder().setInt64Param(2).build())).build());
        assertThat(grpcTop.getOutputs(0).getDatatype()).isEqualTo("BYTES");
        assertThat(grpcTop.getOutputs(0).getShapeList()).containsExactly(1L, 2L);
        List<String> grpcGot = grpcTop.getOutputs(0).getContents().getBytesContentsList().stream().map(b -> b.toStringUtf8()).toList();
        assertThat(grpcGot).isEqualTo(expectedTop(logits, 2, LABELS));
    }

    @Test
    void anOutputParameterTheServerDoesNotKnowIs400NotIgnored() {
        JsonNode error = post("/v2/models/" + MODEL + "/infer", textBody("[{\"name\": \"logits\", \"parameters\": {\"top_k\": 3}}]"), 400);
        assertThat(error.get("error").stringValue()).contains("Output logits has the parameter top_k, which this server does not know");

        assertThatThrownBy(() -> stub.modelInfer(GrpcIT.textRequest("1", false, null, SEED_TEXT).toBuilder()
                .addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder().setName("logits")
                        .putParameters("top_k", InferParameter.newBuilder().setInt64Param(2).build())).build()))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT));
        // a label output cannot be classified
        assertThat(post("/v2/models/" + MODEL + "/infer", textBody("[{\"name\": \"predict\", \"parameters\": {\"classification\": 2}}]"), 400)
                .get("error").stringValue()).contains("classification needs a numeric output");
        assertThat(post("/v2/models/" + MODEL + "/infer", textBody("[{\"name\": \"logits\", \"parameters\": {\"classification\": 0}}]"), 400)
                .get("error").stringValue()).contains("classification must be a positive integer");
    }
}
