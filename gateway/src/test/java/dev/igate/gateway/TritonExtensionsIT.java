package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

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
    void statisticsCountWhatRanInTritonsTerms() {
        // tritonclient: get_inference_statistics(model_name, model_version)
        JsonNode before = JSON.readTree(client.get().uri("/v2/models/{m}/versions/1/stats", MODEL).exchange().expectStatus().isOk()
                .expectBody().returnResult().getResponseBody()).at("/model_stats/0");
        for (int i = 0; i < 3; i++) {
            post("/v2/models/" + MODEL + "/versions/1/infer", textBody("[{\"name\": \"logits\"}]"), 200);
        }
        // the batcher counts a request just after answering it: wait for the third to be counted
        long successBefore = before.at("/inference_stats/success/count").longValue();
        JsonNode after = await().atMost(10, TimeUnit.SECONDS).until(() -> JSON.readTree(client.get()
                .uri("/v2/models/{m}/versions/1/stats", MODEL).exchange().expectStatus().isOk().expectBody().returnResult()
                .getResponseBody()).at("/model_stats/0"), s -> s.at("/inference_stats/success/count").longValue() - successBefore >= 3);

        assertThat(after.get("name").stringValue()).isEqualTo(MODEL);
        assertThat(after.get("version").stringValue()).isEqualTo("1");
        assertThat(after.at("/inference_stats/success/count").longValue() - before.at("/inference_stats/success/count").longValue())
                .isGreaterThanOrEqualTo(3);
        assertThat(after.at("/inference_stats/success/ns").longValue()).isGreaterThan(before.at("/inference_stats/success/ns").longValue());
        assertThat(after.at("/inference_stats/queue/count").longValue()).isEqualTo(after.at("/inference_stats/success/count").longValue()
                + after.at("/inference_stats/fail/count").longValue());
        assertThat(after.get("inference_count").longValue() - before.get("inference_count").longValue()).isGreaterThanOrEqualTo(3);
        assertThat(after.get("last_inference").longValue()).isGreaterThan(0);
        assertThat(after.get("batch_stats").size()).isGreaterThan(0);
        assertThat(after.at("/batch_stats/0/compute_infer/count").isNumber()).isTrue();
        // every loaded version, and over gRPC the same message
        JsonNode all = JSON.readTree(client.get().uri("/v2/models/stats").exchange().expectStatus().isOk().expectBody()
                .returnResult().getResponseBody());
        assertThat(all.get("model_stats").size()).isGreaterThanOrEqualTo(2);
        var grpcStats = stub.modelStatistics(dev.igate.grpc.v2.ModelStatisticsRequest.newBuilder().setName(MODEL).setVersion("1").build());
        assertThat(grpcStats.getModelStats(0).getInferenceStats().getSuccess().getCount())
                .isGreaterThanOrEqualTo(after.at("/inference_stats/success/count").longValue());
        assertThat(grpcStats.getModelStats(0).getBatchStatsCount()).isGreaterThan(0);
        client.get().uri("/v2/models/NoSuchModel/stats").exchange().expectStatus().isNotFound();
    }

    @Test
    void modelConfigurationIsTritonsFormat() {
        // tritonclient: get_model_config(model_name)
        JsonNode config = JSON.readTree(client.get().uri("/v2/models/{m}/config", MODEL).exchange().expectStatus().isOk()
                .expectBody().returnResult().getResponseBody());

        assertThat(config.get("name").stringValue()).isEqualTo(MODEL);
        assertThat(config.get("platform").stringValue()).isEqualTo("onnxruntime_onnx");
        assertThat(config.get("max_batch_size").intValue()).isGreaterThan(0);
        assertThat(config.at("/input/0/name").stringValue()).isEqualTo("input_ids");
        assertThat(config.at("/input/0/data_type").stringValue()).isEqualTo("TYPE_INT64");
        assertThat(config.at("/input/0/dims").toString()).isEqualTo("[-1]");
        assertThat(config.at("/output/0/dims").toString()).isEqualTo("[6]");
        assertThat(config.at("/instance_group/0/kind").stringValue()).isEqualTo("KIND_CPU");
        assertThat(config.at("/instance_group/0/count").intValue()).isGreaterThan(0);
        assertThat(config.at("/dynamic_batching/max_queue_delay_microseconds").isNumber()).isTrue();

        var grpcConfig = stub.modelConfig(dev.igate.grpc.v2.ModelConfigRequest.newBuilder().setName(MODEL).build()).getConfig();
        assertThat(grpcConfig.getPlatform()).isEqualTo("onnxruntime_onnx");
        assertThat(grpcConfig.getMaxBatchSize()).isEqualTo(config.get("max_batch_size").intValue());
        assertThat(grpcConfig.getInput(0).getDataType()).isEqualTo(dev.igate.grpc.v2.DataType.TYPE_INT64);
        assertThat(grpcConfig.getDynamicBatching().getMaxQueueDelayMicroseconds())
                .isEqualTo(config.at("/dynamic_batching/max_queue_delay_microseconds").longValue());
    }

    @Test
    void tritonsSchedulingParametersAreTakenAndChecked() {
        // tritonclient: infer(..., priority=2, timeout=5_000_000): request parameters, timeout in microseconds
        String scheduled = "{\"inputs\": [{\"name\": \"TEXT\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"" + SEED_TEXT
                + "\"]}], \"parameters\": {\"priority\": 2, \"timeout\": 5000000}}";
        post("/v2/models/" + MODEL + "/infer", scheduled, 200);
        ModelInferResponse grpcScheduled = stub.modelInfer(GrpcIT.textRequest("1", false, null, SEED_TEXT).toBuilder()
                .putParameters("priority", InferParameter.newBuilder().setInt64Param(1).build())
                .putParameters("timeout", InferParameter.newBuilder().setInt64Param(5_000_000).build()).build());
        assertThat(grpcScheduled.getOutputsCount()).isPositive();

        assertThat(post("/v2/models/" + MODEL + "/infer", scheduled.replace("\"priority\": 2", "\"priority\": -1"), 400)
                .get("error").stringValue()).contains("priority must be a non-negative integer");
        assertThat(post("/v2/models/" + MODEL + "/infer", scheduled.replace("5000000", "0.5"), 400)
                .get("error").stringValue()).contains("timeout must be a non-negative integer");
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
