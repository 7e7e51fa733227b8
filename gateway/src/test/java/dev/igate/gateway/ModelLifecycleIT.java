package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import dev.igate.demo.TinyClassifier;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/** Load, reload and unload models through the admin API, without a restart and without failing in-flight requests. */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "igate.demo-models=false", "igate.admin-token=lifecycle-token"})
@AutoConfigureWebTestClient(timeout = "60s")
class ModelLifecycleIT {

    static final Path REPOSITORY = Path.of("target", "test-models-lifecycle").toAbsolutePath();

    @Autowired
    WebTestClient client;

    @Autowired
    dev.igate.gateway.grpc.GrpcServer grpc;

    @DynamicPropertySource
    static void repository(DynamicPropertyRegistry registry) throws Exception {
        ServerTestSupport.deleteTree(REPOSITORY);
        TinyClassifier.write(REPOSITORY.resolve("Tiny").resolve("1"), "Tanh", 1);
        registry.add("igate.model-repository", REPOSITORY::toString);
    }

    WebTestClient.ResponseSpec admin(String path) {
        return client.post().uri(path).header("Authorization", "Bearer lifecycle-token").exchange();
    }

    WebTestClient.ResponseSpec predict(String model) {
        return client.post().uri("/v1/models/{m}:predict", model).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"a short text\"]}").exchange();
    }

    @Test
    void tritonsRepositoryExtensionIndexesLoadsAndUnloadsBehindTheAdminToken() throws Exception {
        ServerTestSupport.awaitReady(client, "/v2/models/Tiny/ready");
        TinyClassifier.write(REPOSITORY.resolve("Triton").resolve("1"), "Tanh", 5);
        // tritonclient.http: get_model_repository_index(), load_model(name), unload_model(name), with headers={"Authorization": ...}
        client.post().uri("/v2/repository/index").exchange().expectStatus().isUnauthorized();
        client.post().uri("/v2/repository/models/Triton/load").header("Authorization", "Bearer wrong").exchange()
                .expectStatus().isUnauthorized();
        client.post().uri("/v2/repository/index").header("Authorization", "Bearer lifecycle-token").exchange()
                .expectStatus().isOk().expectBody()
                .jsonPath("$[?(@.name == 'Triton')].state").isEqualTo(List.of("UNAVAILABLE"))
                .jsonPath("$[?(@.name == 'Tiny')].state").isEqualTo(List.of("READY"));

        admin("/v2/repository/models/Triton/load").expectStatus().isOk();
        predict("Triton").expectStatus().isOk();
        client.post().uri("/v2/repository/index").header("Authorization", "Bearer lifecycle-token")
                .contentType(MediaType.APPLICATION_JSON).bodyValue("{\"ready\": true}").exchange()
                .expectStatus().isOk().expectBody().jsonPath("$[?(@.name == 'Triton')].version").isEqualTo(List.of("1"));
        admin("/v2/repository/models/Triton/unload").expectStatus().isOk();
        predict("Triton").expectStatus().isNotFound();

        // tritonclient.grpc: the same calls, the token in the authorization metadata
        io.grpc.ManagedChannel channel = GrpcClients.channel(grpc.port());
        try {
            io.grpc.Metadata headers = new io.grpc.Metadata();
            headers.put(io.grpc.Metadata.Key.of("authorization", io.grpc.Metadata.ASCII_STRING_MARSHALLER), "Bearer lifecycle-token");
            var stub = dev.igate.grpc.v2.GRPCInferenceServiceGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(60, java.util.concurrent.TimeUnit.SECONDS);
            var authorized = stub.withInterceptors(io.grpc.stub.MetadataUtils.newAttachHeadersInterceptor(headers));
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> stub.repositoryIndex(
                    dev.igate.grpc.v2.RepositoryIndexRequest.getDefaultInstance()))
                    .isInstanceOfSatisfying(io.grpc.StatusRuntimeException.class,
                            e -> assertThat(e.getStatus().getCode()).isEqualTo(io.grpc.Status.Code.UNAUTHENTICATED));
            authorized.repositoryModelLoad(dev.igate.grpc.v2.RepositoryModelLoadRequest.newBuilder().setModelName("Triton").build());
            predict("Triton").expectStatus().isOk();
            assertThat(authorized.repositoryIndex(dev.igate.grpc.v2.RepositoryIndexRequest.newBuilder().setReady(true).build())
                    .getModelsList()).anyMatch(m -> m.getName().equals("Triton") && m.getState().equals("READY"));
            authorized.repositoryModelUnload(dev.igate.grpc.v2.RepositoryModelUnloadRequest.newBuilder().setModelName("Triton").build());
            predict("Triton").expectStatus().isNotFound();
        } finally {
            channel.shutdownNow().awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    @Test
    void aModelAddedToTheRepositoryIsLoadedWithoutARestart() throws Exception {
        ServerTestSupport.awaitReady(client, "/v2/models/Tiny/ready");
        predict("Fresh").expectStatus().isNotFound();
        TinyClassifier.write(REPOSITORY.resolve("Fresh").resolve("1"), "Sigmoid", 2);

        admin("/admin/models/Fresh/load").expectStatus().isOk().expectBody().jsonPath("$.Fresh.1").isEqualTo("READY");

        predict("Fresh").expectStatus().isOk().expectBody().jsonPath("$.predictions[0]").exists();
        admin("/admin/models/Missing/load").expectStatus().isNotFound();
    }

    @Test
    void reloadingUnderLoadFailsNoRequest() throws Exception {
        ServerTestSupport.awaitReady(client, "/v2/models/Tiny/ready");
        AtomicInteger answered = new AtomicInteger();
        AtomicBoolean stop = new AtomicBoolean();
        List<Integer> statuses = new CopyOnWriteArrayList<>();
        var load = Flux.range(0, 8).flatMap(i -> Mono.fromCallable(() -> predict("Tiny").expectBody().returnResult().getStatus().value())
                        .repeat(() -> !stop.get()).subscribeOn(Schedulers.boundedElastic()), 8)
                .doOnNext(s -> {
                    statuses.add(s);
                    answered.incrementAndGet();
                })
                .then().toFuture();

        await().atMost(Duration.ofSeconds(30)).until(() -> answered.get() >= 20);
        int before = answered.get();
        admin("/admin/models/Tiny/load").expectStatus().isOk().expectBody().jsonPath("$.Tiny.1").isEqualTo("READY");
        int after = answered.get();
        await().atMost(Duration.ofSeconds(30)).until(() -> answered.get() >= after + 20);
        stop.set(true);
        load.get(1, java.util.concurrent.TimeUnit.MINUTES);

        assertThat(statuses).containsOnly(200);
        assertThat(after).as("requests answered while the reload ran: the two overlapped").isGreaterThan(before);
    }

    @Test
    void unloadingUnderPredictAndExplainLoadAnswersEveryRequestCleanly() throws Exception {
        // given: a model under predictions and explanations from several clients
        TinyClassifier.write(REPOSITORY.resolve("Busy").resolve("1"), "Tanh", 4);
        admin("/admin/models/Busy/load").expectStatus().isOk();
        AtomicBoolean stop = new AtomicBoolean();
        List<Integer> statuses = new CopyOnWriteArrayList<>();
        Flux<Integer> predictions = Flux.range(0, 6).flatMap(i -> Mono.fromCallable(() -> predict("Busy").expectBody().returnResult()
                .getStatus().value()).repeat(() -> !stop.get()).subscribeOn(Schedulers.boundedElastic()), 6);
        Flux<Integer> explanations = Flux.range(0, 2).flatMap(i -> Mono.fromCallable(() -> client.post()
                .uri("/v1/models/Busy:explain").contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"a somewhat longer text to explain with many steps\"], \"parameters\": {\"n_steps\": 200}}")
                .exchange().expectBody().returnResult().getStatus().value()).repeat(() -> !stop.get())
                .subscribeOn(Schedulers.boundedElastic()), 2);
        var done = Flux.merge(predictions, explanations).doOnNext(statuses::add).then().toFuture();
        await().atMost(Duration.ofSeconds(30)).until(() -> statuses.stream().filter(s -> s == 200).count() >= 30);

        // when: it is unloaded while work is in flight
        admin("/admin/models/Busy/unload").expectStatus().isOk();
        stop.set(true);
        done.get(1, java.util.concurrent.TimeUnit.MINUTES);

        // then: every request got an answer: served, or the unloaded model's 404/503; never a 500; the others serve on
        assertThat(statuses).isNotEmpty().allSatisfy(s -> assertThat(s).isIn(200, 404, 503));
        predict("Busy").expectStatus().isNotFound();
        ServerTestSupport.awaitReady(client, "/v2/models/Tiny/ready");
        predict("Tiny").expectStatus().isOk();
    }

    @Test
    void anUnloadedModelAnswers404AndTheOthersKeepServing() throws Exception {
        TinyClassifier.write(REPOSITORY.resolve("Doomed").resolve("1"), "Tanh", 3);
        admin("/admin/models/Doomed/load").expectStatus().isOk();
        predict("Doomed").expectStatus().isOk();

        admin("/admin/models/Doomed/unload").expectStatus().isOk();

        predict("Doomed").expectStatus().isNotFound();
        client.get().uri("/v2/models/Doomed/ready").exchange().expectStatus().isBadRequest().expectBody().jsonPath("$.ready").isEqualTo(false);
        ServerTestSupport.awaitReady(client, "/v2/models/Tiny/ready");
        predict("Tiny").expectStatus().isOk();
        admin("/admin/models/Doomed/unload").expectStatus().isNotFound();
    }

    @Test
    void lifecycleCallsNeedTheToken() {
        client.post().uri("/admin/models/Tiny/unload").exchange().expectStatus().isUnauthorized();
        client.post().uri("/admin/models/Tiny/load").header("Authorization", "Bearer nope").exchange().expectStatus().isUnauthorized();
    }

    @Test
    void aModelWhoseTokenInputsAreInt32ServesAndExplains() throws Exception {
        // given: an export with INT32 input_ids and attention_mask (the server makes INT64 token rows)
        TinyClassifier.write(REPOSITORY.resolve("Int32").resolve("1"), "Tanh", 5, ai.onnx.proto.OnnxMl.TensorProto.DataType.INT32);

        // when / then: it loads (its warm-up runs), predicts, and explains with its gradient graph
        admin("/admin/models/Int32/load").expectStatus().isOk().expectBody().jsonPath("$.Int32.1").isEqualTo("READY");
        predict("Int32").expectStatus().isOk().expectBody().jsonPath("$.predictions[0]").exists();
        client.post().uri("/v1/models/Int32:explain").contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"a short text\"], \"parameters\": {\"n_steps\": 8, \"gradients\": \"graph\"}}")
                .exchange().expectStatus().isOk().expectBody().jsonPath("$.explanations[0].words").isArray();
        client.get().uri("/v2/models/Int32").exchange().expectStatus().isOk()
                .expectBody().jsonPath("$.inputs[0].datatype").isEqualTo("INT32");
    }

    String logitsOf(String model, String text) {
        return client.post().uri("/v2/models/{m}/infer", model).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"inputs\": [{\"name\": \"text\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"" + text
                        + "\"]}], \"outputs\": [{\"name\": \"logits\"}]}")
                .exchange().expectStatus().isOk().expectBody(String.class).returnResult().getResponseBody()
                .replaceAll(".*\"data\":\\[([^]]*)].*", "$1");
    }

    @Test
    void aModelWithBatchWideQuantizationGivesEachRequestTheAnswerItGetsAlone() throws Exception {
        // given: the tiny classifier quantized dynamically (one scale for the whole batch tensor) after its lookup
        TinyClassifier.write(REPOSITORY.resolve("Quantized").resolve("1"), "Tanh", 6);
        ai.onnx.proto.OnnxMl.ModelProto plain = TinyClassifier.model("Tanh", 6);
        ai.onnx.proto.OnnxMl.GraphProto.Builder g = plain.getGraph().toBuilder();
        int at = g.getNodeList().indexOf(g.getNodeList().stream().filter(n -> n.getOpType().equals("Tanh")).findFirst().orElseThrow());
        g.setNode(at, g.getNode(at).toBuilder().setInput(0, "dequantized"));
        g.addNode(at, ai.onnx.proto.OnnxMl.NodeProto.newBuilder().setOpType("DequantizeLinear").setName("/q/DequantizeLinear")
                .addInput("q").addInput("q_scale").addInput("q_zero").addOutput("dequantized").build());
        g.addNode(at, ai.onnx.proto.OnnxMl.NodeProto.newBuilder().setOpType("DynamicQuantizeLinear").setName("/q/DynamicQuantizeLinear")
                .addInput("embedded").addOutput("q").addOutput("q_scale").addOutput("q_zero").build());
        Files.write(REPOSITORY.resolve("Quantized").resolve("1").resolve("model.onnx"), plain.toBuilder().setGraph(g).build().toByteArray());
        admin("/admin/models/Quantized/load").expectStatus().isOk().expectBody().jsonPath("$.Quantized.1").isEqualTo("READY");
        String[] texts = {"a short text", "risk assessment of oral bioavailability in toxicology studies of many compounds"};
        String[] alone = {logitsOf("Quantized", texts[0]), logitsOf("Quantized", texts[1])};

        // when: both texts are sent at once by many clients
        List<String> answers = Flux.range(0, 64)
                .flatMap(i -> Mono.fromCallable(() -> i % 2 + "=" + logitsOf("Quantized", texts[i % 2]))
                        .subscribeOn(Schedulers.boundedElastic()), 16)
                .collectList().block(Duration.ofMinutes(1));

        // then: each answer is exactly the one its text gets alone
        for (String a : answers) {
            int i = a.charAt(0) - '0';
            assertThat(a.substring(2)).isEqualTo(alone[i]);
        }
        client.get().uri("/v2/models/Quantized").exchange().expectStatus().isOk()
                .expectBody().jsonPath("$.parameters.max_batch_size").isEqualTo(1);
    }
}
