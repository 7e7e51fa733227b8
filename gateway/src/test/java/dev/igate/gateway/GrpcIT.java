package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import com.google.common.util.concurrent.ListenableFuture;
import dev.igate.gateway.grpc.GrpcServer;
import dev.igate.grpc.GrpcCodec;
import dev.igate.grpc.v2.GRPCExplainServiceGrpc;
import dev.igate.grpc.v2.GRPCInferenceServiceGrpc;
import dev.igate.grpc.v2.InferParameter;
import dev.igate.grpc.v2.ModelInferRequest;
import dev.igate.grpc.v2.ModelInferResponse;
import dev.igate.grpc.v2.ModelMetadataRequest;
import dev.igate.grpc.v2.ModelMetadataResponse;
import dev.igate.grpc.v2.ModelReadyRequest;
import dev.igate.grpc.v2.ServerLiveRequest;
import dev.igate.grpc.v2.ServerMetadataRequest;
import dev.igate.grpc.v2.ServerMetadataResponse;
import dev.igate.grpc.v2.ServerReadyRequest;
import dev.igate.protocol.Datatype;
import dev.igate.protocol.Tensor;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.http.MediaType;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The V2 gRPC endpoint of a real server, called with grpc-java's generated client: every RPC of
 * inference.GRPCInferenceService, the explain extension and grpc.health.v1. Typed and raw
 * tensors give the answers REST gives, and gRPC rows join the REST batcher. BlockHound watches
 * the gRPC transport threads the handlers run on.
 */
class GrpcIT extends ServerTestSupport {

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

    static ModelInferRequest.InferInputTensor.Builder input(Tensor t) {
        ModelInferRequest.InferInputTensor.Builder b = ModelInferRequest.InferInputTensor.newBuilder()
                .setName(t.name()).setDatatype(t.datatype().name());
        Arrays.stream(t.shape()).forEach(b::addShape);
        return b;
    }

    static ModelInferRequest textRequest(String version, boolean raw, String output, String... texts) {
        Tensor t = Tensor.ofStrings("text", new long[] {texts.length}, texts);
        ModelInferRequest.Builder r = ModelInferRequest.newBuilder().setModelName(MODEL).setModelVersion(version).setId("req-7");
        if (raw) {
            r.addInputs(input(t)).addRawInputContents(GrpcCodec.raw(t));
        } else {
            r.addInputs(input(t).setContents(GrpcCodec.contents(t)));
        }
        if (output != null) {
            r.addOutputs(ModelInferRequest.InferRequestedOutputTensor.newBuilder().setName(output));
        }
        return r.build();
    }

    JsonNode rest(String path, String body) {
        byte[] bytes = client.post().uri(path).contentType(MediaType.APPLICATION_JSON).bodyValue(body)
                .exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody();
        return JSON.readTree(bytes);
    }

    @Test
    void serverLiveReadyAndMetadataAnswer() {
        assertThat(stub.serverLive(ServerLiveRequest.getDefaultInstance()).getLive()).isTrue();
        assertThat(stub.serverReady(ServerReadyRequest.getDefaultInstance()).getReady()).isTrue();
        ServerMetadataResponse meta = stub.serverMetadata(ServerMetadataRequest.getDefaultInstance());
        assertThat(meta.getName()).isEqualTo("igate");
        // the same list as REST's GET /v2, each a real one
        assertThat(meta.getExtensionsList()).containsExactlyElementsOf(dev.igate.gateway.web.V2Handler.EXTENSIONS);
        assertThat(meta.getExtensionsList()).contains("binary_tensor_data", "classification", "statistics", "model_configuration",
                "model_repository", "igate_explain");
        client.get().uri("/v2").exchange().expectBody().jsonPath("$.extensions").isEqualTo(dev.igate.gateway.web.V2Handler.EXTENSIONS);
    }

    @Test
    void modelReadyAndMetadataMatchRest() {
        // given
        JsonNode rest = JSON.readTree(client.get().uri("/v2/models/{m}/versions/2", MODEL).exchange().expectStatus().isOk()
                .expectBody().returnResult().getResponseBody());
        // when
        ModelMetadataResponse grpcMeta = stub.modelMetadata(ModelMetadataRequest.newBuilder().setName(MODEL).setVersion("2").build());
        // then
        assertThat(stub.modelReady(ModelReadyRequest.newBuilder().setName(MODEL).build()).getReady()).isTrue();
        assertThat(stub.modelReady(ModelReadyRequest.newBuilder().setName(MODEL).setVersion("2").build()).getReady()).isTrue();
        assertThat(grpcMeta.getName()).isEqualTo(MODEL);
        assertThat(grpcMeta.getVersionsList()).containsExactly("1", "2");
        assertThat(grpcMeta.getPlatform()).isEqualTo(rest.get("platform").stringValue());
        assertThat(grpcMeta.getInputsList()).extracting(ModelMetadataResponse.TensorMetadata::getName)
                .containsExactlyElementsOf(rest.get("inputs").findValuesAsString("name"));
        assertThat(grpcMeta.getInputs(0).getDatatype()).isEqualTo("INT64");
        assertThat(grpcMeta.getInputs(0).getShapeList()).containsExactly(-1L, -1L);
        assertThat(grpcMeta.getOutputsList()).extracting(ModelMetadataResponse.TensorMetadata::getName).containsExactly("logits");
        assertThat(grpcMeta.getParametersMap().get("execution_provider").getStringParam())
                .isEqualTo(rest.at("/parameters/execution_provider").stringValue());
        assertThat(grpcMeta.getParametersMap().get("labels").getStringParam()).contains("Pharma-Toxico");
    }

    @Test
    void typedAndRawTextRequestsGiveRestsLabelsAndLogits() {
        // given
        String[] texts = {SEED_TEXT, "Habitat loss drives amphibian decline in montane streams"};
        JsonNode restLogits = rest("/v2/models/" + MODEL + "/versions/1/infer", """
                {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["%s", "%s"]}],
                 "outputs": [{"name": "logits"}]}""".formatted(texts[0], texts[1])).get("outputs").get(0);
        // when
        ModelInferResponse labels = stub.modelInfer(textRequest("1", false, null, texts));
        ModelInferResponse typed = stub.modelInfer(textRequest("1", false, "logits", texts));
        ModelInferResponse raw = stub.modelInfer(textRequest("1", true, "logits", texts));
        // then
        assertThat(labels.getId()).isEqualTo("req-7");
        assertThat(labels.getModelVersion()).isEqualTo("1");
        assertThat(GrpcCodec.decodeOutputs(labels).get(0).strings()).containsExactly("Pharma-Toxico", "Ecology");
        assertThat(typed.getRawOutputContentsCount()).isZero();
        assertThat(raw.getRawOutputContentsCount()).isEqualTo(1);
        Tensor typedLogits = GrpcCodec.decodeOutputs(typed).get(0);
        Tensor rawLogits = GrpcCodec.decodeOutputs(raw).get(0);
        assertThat(typedLogits.shape()).containsExactly(2, 6);
        assertThat(rawLogits).isEqualTo(typedLogits);
        List<JsonNode> expected = List.copyOf(restLogits.get("data").values());
        for (int i = 0; i < expected.size(); i++) {
            assertThat(typedLogits.floats()[i]).isCloseTo(expected.get(i).floatValue(), within(1e-5f));
        }
    }

    @Test
    void rawTokenTensorsRunTheOnnxModelDirectly() {
        // given
        long[] ids = RawTensorIT.SEED_IDS;
        long[] ones = new long[ids.length];
        Arrays.fill(ones, 1);
        List<Tensor> inputs = List.of(Tensor.ofLongs("input_ids", new long[] {1, ids.length}, ids),
                Tensor.ofLongs("attention_mask", new long[] {1, ids.length}, ones),
                Tensor.ofLongs("token_type_ids", new long[] {1, ids.length}, new long[ids.length]));
        ModelInferRequest.Builder typed = ModelInferRequest.newBuilder().setModelName(MODEL).setModelVersion("1");
        ModelInferRequest.Builder raw = ModelInferRequest.newBuilder().setModelName(MODEL).setModelVersion("1");
        for (Tensor t : inputs) {
            typed.addInputs(input(t).setContents(GrpcCodec.contents(t)));
            raw.addInputs(input(t)).addRawInputContents(GrpcCodec.raw(t));
        }
        // when
        Tensor fromTyped = GrpcCodec.decodeOutputs(stub.modelInfer(typed.build())).get(0);
        Tensor fromRaw = GrpcCodec.decodeOutputs(stub.modelInfer(raw.build())).get(0);
        Tensor fromText = GrpcCodec.decodeOutputs(stub.modelInfer(textRequest("1", false, "logits", SEED_TEXT))).get(0);
        // then
        assertThat(fromTyped.name()).isEqualTo("logits");
        assertThat(fromTyped.datatype()).isEqualTo(Datatype.FP32);
        assertThat(fromTyped.shape()).containsExactly(1, 6);
        assertThat(fromRaw).isEqualTo(fromTyped);
        for (int i = 0; i < 6; i++) {
            assertThat(fromTyped.floats()[i]).isCloseTo(fromText.floats()[i], within(1e-5f));
        }
    }

    @Test
    void binaryDataOutputParameterAsksForRawOutputs() {
        ModelInferRequest request = textRequest("1", false, null, SEED_TEXT).toBuilder()
                .putParameters(GrpcCodec.BINARY_DATA_OUTPUT, InferParameter.newBuilder().setBoolParam(true).build()).build();

        ModelInferResponse response = stub.modelInfer(request);

        assertThat(response.getRawOutputContentsCount()).isEqualTo(1);
        assertThat(GrpcCodec.decodeOutputs(response).get(0).strings()).containsExactly("Pharma-Toxico");
    }

    @Test
    void grpcRowsJoinTheSameBatcherAsRest() throws Exception {
        // given: no run of another test's work still finishing (a cancelled explanation's last piece)
        awaitIdle(client);
        String before = client.get().uri("/actuator/prometheus").exchange().expectBody(String.class).returnResult().getResponseBody();
        GRPCInferenceServiceGrpc.GRPCInferenceServiceFutureStub async = GRPCInferenceServiceGrpc.newFutureStub(channel);
        // when
        List<ListenableFuture<ModelInferResponse>> calls = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            calls.add(async.withDeadlineAfter(60, TimeUnit.SECONDS).modelInfer(textRequest("1", i % 2 == 0, null, SEED_TEXT)));
        }
        List<String> labels = new ArrayList<>();
        for (ListenableFuture<ModelInferResponse> call : calls) {
            labels.add(GrpcCodec.decodeOutputs(call.get(60, TimeUnit.SECONDS)).get(0).strings()[0]);
        }
        String after = client.get().uri("/actuator/prometheus").exchange().expectBody(String.class).returnResult().getResponseBody();
        // then
        assertThat(labels).hasSize(64).containsOnly("Pharma-Toxico");
        double rows = BatchingIT.counter(after, "nv_inference_count_total") - BatchingIT.counter(before, "nv_inference_count_total");
        double runs = BatchingIT.counter(after, "nv_inference_exec_count_total") - BatchingIT.counter(before, "nv_inference_exec_count_total");
        assertThat(rows).isEqualTo(64);
        assertThat(runs).as("batcher runs for 64 concurrent gRPC rows").isLessThan(64);
        assertThat(after).containsPattern("igate_requests_total\\{[^}]*endpoint=\"grpc_infer\"");
    }

    @Test
    void explainOverGrpcAnswersWhatRestExplainAnswers() {
        // given
        Tensor text = Tensor.ofStrings("text", new long[] {1}, SEED_TEXT);
        ModelInferRequest request = ModelInferRequest.newBuilder().setModelName(MODEL).setModelVersion("1").setId("e-1")
                .addInputs(input(text).setContents(GrpcCodec.contents(text)))
                .putParameters("n_steps", InferParameter.newBuilder().setInt64Param(20).build()).build();
        JsonNode restExplanation = rest("/v2/models/" + MODEL + "/versions/1/explain", """
                {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["%s"]}],
                 "parameters": {"n_steps": 20}}""".formatted(SEED_TEXT)).at("/outputs/0/data/0");
        // when
        ModelInferResponse response = GRPCExplainServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS)
                .modelExplain(request);
        // then
        assertThat(response.getId()).isEqualTo("e-1");
        assertThat(response.getOutputs(0).getName()).isEqualTo("explain");
        Tensor explain = GrpcCodec.decodeOutputs(response).get(0);
        assertThat(explain.shape()).containsExactly(1);
        JsonNode e = JSON.readTree(explain.strings()[0]);
        assertThat(e.get("words")).isEqualTo(restExplanation.get("words"));
        assertThat(e.get("target").stringValue()).isEqualTo("Pharma-Toxico");
        assertThat(Math.abs(e.get("delta").doubleValue())).isLessThan(0.05);
        for (int i = 0; i < e.get("importances").size(); i++) {
            assertThat(e.get("importances").get(i).doubleValue())
                    .isCloseTo(restExplanation.get("importances").get(i).doubleValue(), within(1e-6));
        }
    }

    @Test
    void blockHoundWatchesTheGrpcTransportThreadsHandlersRunOn() throws Exception {
        // given: a server built as GrpcServer builds it, whose handler blocks
        io.grpc.Server blocking = io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder.forPort(0).directExecutor()
                .addService(new GRPCInferenceServiceGrpc.GRPCInferenceServiceImplBase() {
                    @Override
                    public void serverLive(ServerLiveRequest request, io.grpc.stub.StreamObserver<dev.igate.grpc.v2.ServerLiveResponse> observer) {
                        try {
                            Thread.sleep(1);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                        observer.onNext(dev.igate.grpc.v2.ServerLiveResponse.newBuilder().setLive(true).build());
                        observer.onCompleted();
                    }
                }).build().start();
        ManagedChannel toBlocking = GrpcClients.channel(blocking.getPort());
        try {
            // when / then: BlockHound fails the call instead of letting it sleep on the transport thread
            assertThatThrownBy(() -> GRPCInferenceServiceGrpc.newBlockingStub(toBlocking).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .serverLive(ServerLiveRequest.getDefaultInstance()))
                    .isInstanceOfSatisfying(StatusRuntimeException.class,
                            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNKNOWN));
        } finally {
            toBlocking.shutdownNow();
            blocking.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void serverReflectionListsTheServices() throws Exception {
        // given
        CompletableFuture<List<String>> services = new CompletableFuture<>();
        io.grpc.stub.StreamObserver<io.grpc.reflection.v1.ServerReflectionRequest> requests =
                io.grpc.reflection.v1.ServerReflectionGrpc.newStub(channel).serverReflectionInfo(new io.grpc.stub.StreamObserver<>() {
                    @Override
                    public void onNext(io.grpc.reflection.v1.ServerReflectionResponse value) {
                        services.complete(value.getListServicesResponse().getServiceList().stream()
                                .map(io.grpc.reflection.v1.ServiceResponse::getName).toList());
                    }

                    @Override
                    public void onError(Throwable t) {
                        services.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {
                    }
                });
        // when
        requests.onNext(io.grpc.reflection.v1.ServerReflectionRequest.newBuilder().setListServices("").build());
        requests.onCompleted();
        // then
        assertThat(services.get(10, TimeUnit.SECONDS)).contains("inference.GRPCInferenceService", "igate.GRPCExplainService",
                "grpc.health.v1.Health");
    }

    @Test
    void serverReflectionV1alphaListsTheServicesForOlderTools() throws Exception {
        CompletableFuture<List<String>> services = new CompletableFuture<>();
        io.grpc.stub.StreamObserver<io.grpc.reflection.v1alpha.ServerReflectionRequest> requests =
                io.grpc.reflection.v1alpha.ServerReflectionGrpc.newStub(channel).serverReflectionInfo(new io.grpc.stub.StreamObserver<>() {
                    @Override
                    public void onNext(io.grpc.reflection.v1alpha.ServerReflectionResponse value) {
                        services.complete(value.getListServicesResponse().getServiceList().stream()
                                .map(io.grpc.reflection.v1alpha.ServiceResponse::getName).toList());
                    }

                    @Override
                    public void onError(Throwable t) {
                        services.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {
                    }
                });
        requests.onNext(io.grpc.reflection.v1alpha.ServerReflectionRequest.newBuilder().setListServices("").build());
        requests.onCompleted();

        assertThat(services.get(10, TimeUnit.SECONDS)).contains("inference.GRPCInferenceService", "igate.GRPCExplainService");
    }

    @Test
    void standardHealthServiceReportsServing() {
        HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);

        assertThat(health.check(HealthCheckRequest.getDefaultInstance()).getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
        assertThat(health.check(HealthCheckRequest.newBuilder().setService(GRPCInferenceServiceGrpc.SERVICE_NAME).build()).getStatus())
                .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
        assertThatThrownBy(() -> health.check(HealthCheckRequest.newBuilder().setService("no.such.Service").build()))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND));
    }

    @Test
    void aStoppedAndRestartedServerServesAndReportsHealthAgain() throws Exception {
        // given: a health Watch stream is open
        CompletableFuture<Status> watchEnded = new CompletableFuture<>();
        List<HealthCheckResponse.ServingStatus> watched = java.util.Collections.synchronizedList(new ArrayList<>());
        HealthGrpc.newStub(channel).watch(HealthCheckRequest.getDefaultInstance(), new io.grpc.stub.StreamObserver<>() {
            @Override
            public void onNext(HealthCheckResponse value) {
                watched.add(value.getStatus());
            }

            @Override
            public void onError(Throwable t) {
                watchEnded.complete(Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
                watchEnded.complete(Status.OK);
            }
        });
        await().atMost(java.time.Duration.ofSeconds(5)).until(() -> !watched.isEmpty());
        // when: stopped and started again, as Spring's test framework does with idle contexts
        long stopStart = System.nanoTime();
        grpc.stop();
        long stopMillis = (System.nanoTime() - stopStart) / 1_000_000;
        // then: watchers hear NOT_SERVING and their streams end, so they do not hold the drain for the whole grace
        assertThat(watchEnded.get(10, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        assertThat(watched).containsExactly(HealthCheckResponse.ServingStatus.SERVING, HealthCheckResponse.ServingStatus.NOT_SERVING);
        assertThat(stopMillis).as("stop with an open Watch stream, ms").isLessThan(10_000);
        grpc.start();
        channel.shutdownNow();
        connect();
        // when
        HealthCheckResponse.ServingStatus status = HealthGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                .check(HealthCheckRequest.getDefaultInstance()).getStatus();
        // then
        assertThat(status).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
        assertThat(GrpcCodec.decodeOutputs(stub.modelInfer(textRequest("1", false, null, SEED_TEXT))).get(0).strings())
                .containsExactly("Pharma-Toxico");
    }

    @Test
    void aDeadlineThatPassesCancelsTheCallAndTheServerGoesOn() throws Exception {
        // given: a call of 256 long texts that takes seconds on 2 cores
        String[] texts = new String[256];
        Arrays.fill(texts, String.join(" ", java.util.Collections.nCopies(150, "toxicology")));
        // when
        assertThatThrownBy(() -> stub.withDeadlineAfter(200, TimeUnit.MILLISECONDS).modelInfer(textRequest("1", false, null, texts)))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED));
        // then
        CompletableFuture<ModelInferResponse> next = CompletableFuture.supplyAsync(() -> stub.modelInfer(textRequest("1", false, null, SEED_TEXT)));
        assertThat(GrpcCodec.decodeOutputs(next.get(60, TimeUnit.SECONDS)).get(0).strings()).containsExactly("Pharma-Toxico");
    }
}
