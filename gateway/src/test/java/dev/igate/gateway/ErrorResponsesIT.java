package dev.igate.gateway;

import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;

import dev.igate.demo.DemoRepository;
import dev.igate.demo.TinyClassifier;
import dev.igate.gateway.grpc.GrpcServer;
import dev.igate.grpc.GrpcCodec;
import dev.igate.grpc.v2.GRPCExplainServiceGrpc;
import dev.igate.grpc.v2.GRPCInferenceServiceGrpc;
import dev.igate.grpc.v2.InferParameter;
import dev.igate.grpc.v2.ModelInferRequest;
import dev.igate.grpc.v2.ModelInferResponse;
import dev.igate.grpc.v2.ModelMetadataRequest;
import dev.igate.grpc.v2.ModelReadyRequest;
import dev.igate.grpc.v2.ServerReadyRequest;
import dev.igate.protocol.Tensor;
import io.grpc.ManagedChannel;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * Every error case answers {"error": ...} with its status, and over gRPC the matching status
 * code, against a repository holding the demo model and a model whose file is corrupt; the
 * server keeps serving throughout.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {"igate.max-request-size=64KB", "igate.demo-task-models=false", "igate.explainer.concurrency=1", "igate.explainer.queue-capacity=1"})
@AutoConfigureWebTestClient(timeout = "60s")
class ErrorResponsesIT {

    static final String MODEL = ServerTestSupport.MODEL;
    static final Path REPOSITORY = Path.of("target", "test-models-errors").toAbsolutePath();

    @Autowired
    WebTestClient client;

    @Autowired
    GrpcServer grpc;

    @DynamicPropertySource
    static void repository(DynamicPropertyRegistry registry) throws Exception {
        DemoRepository.ensure(ServerTestSupport.DEMO_REPOSITORY);
        Files.createDirectories(REPOSITORY);
        Path link = REPOSITORY.resolve(MODEL);
        if (!Files.exists(link)) {
            Files.createSymbolicLink(link, ServerTestSupport.DEMO_REPOSITORY.resolve(MODEL));
        }
        Path broken = Files.createDirectories(REPOSITORY.resolve("Broken").resolve("1"));
        Files.writeString(broken.resolve("model.onnx"), "this is not an ONNX model");
        TinyClassifier.write(REPOSITORY.resolve("Sinusoid").resolve("1"), "Sin", 5);
        registry.add("igate.model-repository", REPOSITORY::toString);
    }

    @BeforeEach
    void awaitDemoModel() throws InterruptedException {
        ServerTestSupport.awaitReady(client, "/v2/models/" + MODEL + "/ready");
    }

    WebTestClient.ResponseSpec infer(String path, String body) {
        return client.post().uri(path).contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange();
    }

    void expectError(WebTestClient.ResponseSpec response, int status, String messagePart) {
        response.expectStatus().isEqualTo(status)
                .expectHeader().contentType(MediaType.APPLICATION_JSON)
                .expectBody().jsonPath("$.error").value(String.class, m -> {
                    if (!m.contains(messagePart)) {
                        throw new AssertionError("error \"" + m + "\" does not mention \"" + messagePart + "\"");
                    }
                });
    }

    @Test
    void malformedJsonIs400() {
        expectError(infer("/v2/models/" + MODEL + "/infer", "{\"inputs\": [{"), 400, "Malformed JSON");
        expectError(infer("/v2/models/" + MODEL + "/infer", ""), 400, "empty");
        expectError(infer("/v1/models/" + MODEL + ":predict", "not json"), 400, "Malformed JSON");
    }

    @Test
    void wrongDatatypeIs400NamingTheExpectedOne() {
        expectError(infer("/v2/models/" + MODEL + "/infer",
                "{\"inputs\":[{\"name\":\"input_ids\",\"shape\":[1,2],\"datatype\":\"INT32\",\"data\":[101,102]},"
                        + "{\"name\":\"attention_mask\",\"shape\":[1,2],\"datatype\":\"INT64\",\"data\":[1,1]},"
                        + "{\"name\":\"token_type_ids\",\"shape\":[1,2],\"datatype\":\"INT64\",\"data\":[0,0]}]}"),
                400, "Input input_ids must have datatype INT64, was INT32");
        expectError(infer("/v2/models/" + MODEL + "/infer",
                "{\"inputs\":[{\"name\":\"t\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[5]}]}"), 400, "holds the number 5");
    }

    @Test
    void wrongShapeIs400NamingTheExpectedOne() {
        expectError(infer("/v2/models/" + MODEL + "/infer",
                "{\"inputs\":[{\"name\":\"input_ids\",\"shape\":[2],\"datatype\":\"INT64\",\"data\":[101,102]},"
                        + "{\"name\":\"attention_mask\",\"shape\":[2],\"datatype\":\"INT64\",\"data\":[1,1]},"
                        + "{\"name\":\"token_type_ids\",\"shape\":[2],\"datatype\":\"INT64\",\"data\":[0,0]}]}"),
                400, "must have shape [-1, -1]");
        expectError(infer("/v2/models/" + MODEL + "/infer",
                "{\"inputs\":[{\"name\":\"t\",\"shape\":[2],\"datatype\":\"BYTES\",\"data\":[\"a\"]}]}"), 400, "(2 elements) but 1");
    }

    @Test
    void unknownInputNameIs400ListingTheModelsInputs() {
        expectError(infer("/v2/models/" + MODEL + "/infer",
                        "{\"inputs\":[{\"name\":\"ids\",\"shape\":[1,1],\"datatype\":\"INT64\",\"data\":[1]}]}"),
                400, "Unknown input name ids, expected one of [input_ids, attention_mask, token_type_ids]");
    }

    @Test
    void unknownOutputNameIs400() {
        expectError(infer("/v2/models/" + MODEL + "/infer",
                        "{\"inputs\":[{\"name\":\"t\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"x\"]}],"
                                + "\"outputs\":[{\"name\":\"scores\"}]}"),
                400, "Unknown output name scores, expected one of [predict, probabilities, logits]");
    }

    @Test
    void unknownModelOrVersionIs404() {
        expectError(infer("/v2/models/NoSuchModel/infer", ServerTestSupport.SEED), 404, "Model NoSuchModel not found");
        expectError(infer("/v2/models/" + MODEL + "/versions/7/infer", ServerTestSupport.SEED), 404, "has no version 7");
        expectError(infer("/v1/models/NoSuchModel:predict", "{\"instances\": [\"x\"]}"), 404, "not found");
        expectError(client.get().uri("/v2/models/NoSuchModel").exchange(), 404, "not found");
        expectError(client.get().uri("/v2/models/" + MODEL + "/versions/abc").exchange(), 404, "has no version abc");
    }

    @Test
    void pathCharactersInNamesNeverReachTheFileSystem() {
        client.post().uri("/v2/models/..%2F..%2Fetc/infer").bodyValue(ServerTestSupport.SEED).exchange()
                .expectStatus().value(s -> {
                    if (s != 400 && s != 404) {
                        throw new AssertionError("status " + s);
                    }
                });
        expectError(infer("/v2/models/.hidden/infer", ServerTestSupport.SEED), 404, "Invalid model name");
        expectError(infer("/v2/models/%2e%2e/infer", ServerTestSupport.SEED), 404, "Invalid model name");
    }

    void awaitBrokenFailed() throws InterruptedException {
        await().alias("Broken model reported FAILED").atMost(java.time.Duration.ofSeconds(60))
                .until(() -> client.get().uri("/v2/models/Broken/ready").exchange().expectBody().returnResult().getStatus().value() != 200
                        && client.get().uri("/actuator/health/readiness").exchange().returnResult(String.class)
                        .getResponseBody().collectList().block().toString().contains("FAILED"));
    }

    @Test
    void modelThatFailedToLoadIs503WithTheReasonAndNotReady() throws InterruptedException {
        awaitBrokenFailed();
        expectError(infer("/v2/models/Broken/infer", ServerTestSupport.SEED), 503, "Model Broken failed to load");
        client.get().uri("/v2/models/Broken/ready").exchange().expectStatus().isBadRequest()
                .expectBody().jsonPath("$.ready").isEqualTo(false);
        client.get().uri("/actuator/health/readiness").exchange().expectStatus().isEqualTo(503);
        client.get().uri("/v2/health/ready").exchange().expectStatus().isBadRequest();
        // the reason names the file within the repository, never where the server keeps it
        String root = REPOSITORY.toAbsolutePath().toString();
        String answer = client.post().uri("/v2/models/Broken/infer").contentType(MediaType.APPLICATION_JSON)
                .bodyValue(ServerTestSupport.SEED).exchange().expectBody(String.class).returnResult().getResponseBody();
        String health = client.get().uri("/actuator/health/readiness").exchange().expectBody(String.class).returnResult().getResponseBody();
        org.assertj.core.api.Assertions.assertThat(answer).contains("Broken").doesNotContain(root);
        org.assertj.core.api.Assertions.assertThat(health).contains("FAILED").doesNotContain(root);
    }

    @org.springframework.boot.test.web.server.LocalServerPort
    int port;

    @Test
    void aClientThatWritesItsWholeOversizedBodyBeforeReadingReads413() throws Exception {
        // 2 MB against the 64 KB limit, all of it written before a byte is read, as Python's urllib does
        byte[] body = ("{\"instances\": [\"" + "x".repeat(2 << 20) + "\"]}").getBytes(java.nio.charset.StandardCharsets.UTF_8);
        try (java.net.Socket socket = new java.net.Socket("127.0.0.1", port)) {
            socket.setSoTimeout(30_000);
            java.io.OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/models/" + MODEL + ":predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + body.length + "\r\n\r\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
            // the answer, up to the end of its JSON body (the connection stays open)
            StringBuilder answer = new StringBuilder();
            java.io.InputStream in = socket.getInputStream();
            for (int c; answer.indexOf("}") < 0 && (c = in.read()) != -1; ) {
                answer.append((char) c);
            }

            org.assertj.core.api.Assertions.assertThat(answer.toString()).startsWith("HTTP/1.1 413").contains("{\"error\":\"Request body is too large\"}");
        }
    }

    static byte[] gzip(byte[] data) throws java.io.IOException {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        try (java.util.zip.GZIPOutputStream z = new java.util.zip.GZIPOutputStream(out)) {
            z.write(data);
        }
        return out.toByteArray();
    }

    static byte[] deflate(byte[] data) throws java.io.IOException {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        try (java.util.zip.DeflaterOutputStream z = new java.util.zip.DeflaterOutputStream(out)) {
            z.write(data);
        }
        return out.toByteArray();
    }

    WebTestClient.ResponseSpec encoded(String coding, byte[] body) {
        return client.post().uri("/v2/models/" + MODEL + "/infer").contentType(MediaType.APPLICATION_JSON)
                .header("Content-Encoding", coding).bodyValue(body).exchange();
    }

    @Test
    void gzipAndDeflateBodiesAreServedOtherCodingsAre415() throws Exception {
        byte[] seed = ServerTestSupport.SEED.getBytes(java.nio.charset.StandardCharsets.UTF_8);

        encoded("gzip", gzip(seed)).expectStatus().isOk().expectBody().jsonPath("$.outputs[0].data[0]").isEqualTo("Pharma-Toxico");
        encoded("deflate", deflate(seed)).expectStatus().isOk().expectBody().jsonPath("$.outputs[0].data[0]").isEqualTo("Pharma-Toxico");
        expectError(encoded("br", seed), 415, "Unsupported Content-Encoding br");
        expectError(encoded("gzip", "not gzip at all".getBytes(java.nio.charset.StandardCharsets.UTF_8)), 400, "not valid gzip");
    }

    @Test
    void aDecompressionBombIs413() throws Exception {
        // 10 KB on the wire, 16 MB once inflated, against the 64 KB limit
        byte[] bomb = gzip(new byte[16 << 20]);
        org.assertj.core.api.Assertions.assertThat(bomb.length).isLessThan(64 * 1024);

        expectError(encoded("gzip", bomb), 413, "too large");
        infer("/v2/models/" + MODEL + "/infer", ServerTestSupport.SEED).expectStatus().isOk();
    }

    @Test
    void oversizedBodyIs413() {
        String big = "x".repeat(70 * 1024);
        expectError(infer("/v1/models/" + MODEL + ":predict", "{\"instances\": [\"" + big + "\"]}"), 413, "too large");
    }

    @Test
    void unknownPathAndWrongMethodAnswerJsonErrors() {
        expectError(client.get().uri("/v3/nothing").exchange(), 404, "No such endpoint");
        expectError(client.get().uri("/v2/models/" + MODEL + "/infer").exchange(), 405, "Method not allowed");
    }

    @Test
    void fullExplainQueueAnswers503WithRetryAfterWhilePredictionsStillServe() {
        String slow = "{\"instances\": [\"" + ServerTestSupport.SEED_TEXT + "\"], \"parameters\": {\"gradients\": \"blackbox\", \"n_steps\": 12}}";
        java.util.List<Integer> statuses = reactor.core.publisher.Flux.range(0, 5)
                .flatMap(i -> reactor.core.publisher.Mono.fromCallable(() -> client.post().uri("/v1/models/" + MODEL + ":explain")
                                .contentType(MediaType.APPLICATION_JSON).bodyValue(slow).exchange()
                                .expectBody().returnResult())
                        .subscribeOn(reactor.core.scheduler.Schedulers.boundedElastic())
                        .map(r -> {
                            if (r.getStatus().value() == 503 && r.getResponseHeaders().getFirst("Retry-After") == null) {
                                throw new AssertionError("503 without Retry-After");
                            }
                            return r.getStatus().value();
                        }), 5)
                .collectList().block(java.time.Duration.ofMinutes(2));

        org.assertj.core.api.Assertions.assertThat(statuses).contains(503).contains(200).containsOnly(200, 503);
        infer("/v2/models/" + MODEL + "/infer", ServerTestSupport.SEED).expectStatus().isOk();
    }

    @Test
    void modelWithoutGradientRulesServesAndExplainsWithTheBlackBoxMethod() throws InterruptedException {
        ServerTestSupport.awaitReady(client, "/v2/models/Sinusoid/ready");
        String text = "{\"instances\": [\"a short text\"], \"parameters\": {\"n_steps\": 8}}";

        infer("/v1/models/Sinusoid:predict", text).expectStatus().isOk().expectBody().jsonPath("$.predictions[0]").exists();
        infer("/v1/models/Sinusoid:explain", text).expectStatus().isOk().expectBody()
                .jsonPath("$.explanations[0].gradients").isEqualTo("blackbox")
                .jsonPath("$.explanations[0].words.length()").isEqualTo(5);
        expectError(infer("/v1/models/Sinusoid:explain",
                        "{\"instances\": [\"a short text\"], \"parameters\": {\"gradients\": \"graph\"}}"),
                400, "No gradient rule for operator Sin (node /activation/Sin)");
    }

    /** A blocking gRPC call's status code and description. */
    static io.grpc.Status grpcStatus(Runnable call) {
        try {
            call.run();
        } catch (io.grpc.StatusRuntimeException e) {
            return e.getStatus();
        }
        throw new AssertionError("the gRPC call succeeded");
    }

    static void expectGrpc(io.grpc.Status status, io.grpc.Status.Code code, String messagePart) {
        org.assertj.core.api.Assertions.assertThat(status.getCode()).as(String.valueOf(status)).isEqualTo(code);
        org.assertj.core.api.Assertions.assertThat(status.getDescription()).contains(messagePart);
    }

    static ModelInferRequest.Builder grpcText(String model, String version, String text) {
        Tensor t = Tensor.ofStrings("text", new long[] {1}, text);
        return ModelInferRequest.newBuilder().setModelName(model).setModelVersion(version).addInputs(
                GrpcIT.input(t).setContents(GrpcCodec.contents(t)));
    }

    @Test
    void grpcErrorsMapToStatusCodesAndTheServerGoesOn() throws Exception {
        ManagedChannel channel = GrpcClients.channel(grpc.port());
        try {
            GRPCInferenceServiceGrpc.GRPCInferenceServiceBlockingStub stub = GRPCInferenceServiceGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(60, java.util.concurrent.TimeUnit.SECONDS);
            ServerTestSupport.awaitReady(client, "/v2/models/Sinusoid/ready");
            // INVALID_ARGUMENT: the request itself is wrong
            ModelInferRequest valid = grpcText(MODEL, "", ServerTestSupport.SEED_TEXT).build();
            expectGrpc(grpcStatus(() -> stub.modelInfer(valid.toBuilder().setInputs(0, valid.getInputs(0).toBuilder()
                    .setDatatype("STRING")).build())), io.grpc.Status.Code.INVALID_ARGUMENT, "Unknown datatype STRING");
            expectGrpc(grpcStatus(() -> stub.modelInfer(valid.toBuilder().setInputs(0, valid.getInputs(0).toBuilder()
                    .clearShape().addShape(3)).build())), io.grpc.Status.Code.INVALID_ARGUMENT, "3 elements by its shape but 1");
            expectGrpc(grpcStatus(() -> stub.modelInfer(valid.toBuilder().addRawInputContents(com.google.protobuf.ByteString.EMPTY)
                    .build())), io.grpc.Status.Code.INVALID_ARGUMENT, "one or the other");
            Tensor floats = Tensor.ofFloats("x", new long[] {1}, new float[] {1f});
            expectGrpc(grpcStatus(() -> stub.modelInfer(ModelInferRequest.newBuilder().setModelName("Sinusoid")
                    .addInputs(GrpcIT.input(floats).setContents(GrpcCodec.contents(floats))).build())),
                    io.grpc.Status.Code.INVALID_ARGUMENT, "Unknown input name x, expected one of");
            expectGrpc(grpcStatus(() -> stub.modelInfer(grpcText(MODEL, "", "x").setModelName("").build())),
                    io.grpc.Status.Code.INVALID_ARGUMENT, "model_name is required");
            // a huge declared shape is refused by the element limit before anything is allocated
            expectGrpc(grpcStatus(() -> stub.modelInfer(ModelInferRequest.newBuilder().setModelName(MODEL)
                    .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("t").setDatatype("BYTES").addShape(2_000_000_000L))
                    .addRawInputContents(com.google.protobuf.ByteString.copyFrom(new byte[8])).build())),
                    io.grpc.Status.Code.INVALID_ARGUMENT, "more than the limit of 4194304 (igate.limits.max-elements)");
            expectGrpc(grpcStatus(() -> io.grpc.stub.ClientCalls.blockingUnaryCall(channel, FuzzIT.RAW_MODEL_INFER,
                    io.grpc.CallOptions.DEFAULT.withDeadlineAfter(60, java.util.concurrent.TimeUnit.SECONDS), new byte[] {0x0a, 0x7f, 1})),
                    io.grpc.Status.Code.INVALID_ARGUMENT, "The request is not a valid inference.ModelInferRequest message");
            // NOT_FOUND: no such model or version, for every RPC that names one
            expectGrpc(grpcStatus(() -> stub.modelInfer(grpcText("NoSuchModel", "", "x").build())),
                    io.grpc.Status.Code.NOT_FOUND, "Model NoSuchModel not found");
            expectGrpc(grpcStatus(() -> stub.modelInfer(grpcText(MODEL, "7", "x").build())),
                    io.grpc.Status.Code.NOT_FOUND, "has no version 7");
            expectGrpc(grpcStatus(() -> stub.modelMetadata(ModelMetadataRequest.newBuilder().setName("NoSuchModel").build())),
                    io.grpc.Status.Code.NOT_FOUND, "not found");
            // ModelReady answers a boolean: an unknown version or model is not ready, over gRPC as over REST
            org.assertj.core.api.Assertions.assertThat(stub.modelReady(ModelReadyRequest.newBuilder().setName(MODEL).setVersion("abc")
                    .build()).getReady()).isFalse();
            org.assertj.core.api.Assertions.assertThat(stub.modelReady(ModelReadyRequest.newBuilder().setName("NoSuchModel")
                    .build()).getReady()).isFalse();
            client.get().uri("/v2/models/{m}/versions/abc/ready", MODEL).exchange().expectStatus().isBadRequest()
                    .expectBody().jsonPath("$.ready").isEqualTo(false).jsonPath("$.reason").value(r ->
                            org.assertj.core.api.Assertions.assertThat(r.toString()).contains("has no version abc"));
            client.get().uri("/v2/models/NoSuchModel/ready").exchange().expectStatus().isBadRequest()
                    .expectBody().jsonPath("$.ready").isEqualTo(false);
            // UNAVAILABLE: the model exists but cannot serve
            awaitBrokenFailed();
            expectGrpc(grpcStatus(() -> stub.modelInfer(grpcText("Broken", "", "x").build())),
                    io.grpc.Status.Code.UNAVAILABLE, "Model Broken failed to load");
            org.assertj.core.api.Assertions.assertThat(stub.modelReady(ModelReadyRequest.newBuilder().setName("Broken").build())
                    .getReady()).isFalse();
            org.assertj.core.api.Assertions.assertThat(stub.serverReady(ServerReadyRequest.getDefaultInstance()).getReady()).isFalse();
            // RESOURCE_EXHAUSTED: a message over igate.max-request-size (64KB here), also when it arrives compressed
            expectGrpc(grpcStatus(() -> stub.modelInfer(grpcText(MODEL, "", "x".repeat(70 * 1024)).build())),
                    io.grpc.Status.Code.RESOURCE_EXHAUSTED, "");
            expectGrpc(grpcStatus(() -> stub.withCompression("gzip").modelInfer(grpcText(MODEL, "", "x".repeat(70 * 1024)).build())),
                    io.grpc.Status.Code.RESOURCE_EXHAUSTED, "");
            // descriptions stay short whatever the client sent
            io.grpc.Status longName = grpcStatus(() -> stub.modelInfer(valid.toBuilder().setInputs(0, valid.getInputs(0).toBuilder()
                    .setDatatype("D".repeat(40_000))).build()));
            expectGrpc(longName, io.grpc.Status.Code.INVALID_ARGUMENT, "Unknown datatype DDD");
            org.assertj.core.api.Assertions.assertThat(longName.getDescription().length()).isLessThanOrEqualTo(1025);
            // names the server does not have are not kept as metric tags
            String metrics = client.get().uri("/actuator/prometheus").exchange().expectBody(String.class).returnResult().getResponseBody();
            org.assertj.core.api.Assertions.assertThat(metrics).doesNotContain("NoSuchModel")
                    .containsPattern("igate_requests_total\\{[^}]*endpoint=\"grpc_infer\",model_name=\"unknown\"");
            // and the server goes on
            org.assertj.core.api.Assertions.assertThat(GrpcCodec.decodeOutputs(stub.modelInfer(valid)).get(0).strings())
                    .containsExactly("Pharma-Toxico");
        } finally {
            channel.shutdownNow().awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    @Test
    void fullExplainQueueIsResourceExhaustedOverGrpc() throws Exception {
        ManagedChannel channel = GrpcClients.channel(grpc.port());
        try {
            ModelInferRequest slow = grpcText(MODEL, "", ServerTestSupport.SEED_TEXT)
                    .putParameters("gradients", InferParameter.newBuilder().setStringParam("blackbox").build())
                    .putParameters("n_steps", InferParameter.newBuilder().setInt64Param(12).build()).build();
            GRPCExplainServiceGrpc.GRPCExplainServiceFutureStub async = GRPCExplainServiceGrpc.newFutureStub(channel);
            java.util.List<com.google.common.util.concurrent.ListenableFuture<ModelInferResponse>> calls = new java.util.ArrayList<>();
            for (int i = 0; i < 5; i++) {
                calls.add(async.withDeadlineAfter(2, java.util.concurrent.TimeUnit.MINUTES).modelExplain(slow));
            }
            java.util.List<io.grpc.Status.Code> codes = new java.util.ArrayList<>();
            for (var call : calls) {
                try {
                    call.get(2, java.util.concurrent.TimeUnit.MINUTES);
                    codes.add(io.grpc.Status.Code.OK);
                } catch (java.util.concurrent.ExecutionException e) {
                    io.grpc.Status status = io.grpc.Status.fromThrowable(e.getCause());
                    if (status.getCode() == io.grpc.Status.Code.RESOURCE_EXHAUSTED) {
                        org.assertj.core.api.Assertions.assertThat(status.getDescription()).contains("retry later");
                        io.grpc.Metadata trailers = io.grpc.Status.trailersFromThrowable(e.getCause());
                        org.assertj.core.api.Assertions.assertThat(trailers.get(io.grpc.Metadata.Key.of("grpc-retry-pushback-ms",
                                io.grpc.Metadata.ASCII_STRING_MARSHALLER))).isEqualTo("5000");
                    }
                    codes.add(status.getCode());
                }
            }
            org.assertj.core.api.Assertions.assertThat(codes).contains(io.grpc.Status.Code.OK, io.grpc.Status.Code.RESOURCE_EXHAUSTED)
                    .containsOnly(io.grpc.Status.Code.OK, io.grpc.Status.Code.RESOURCE_EXHAUSTED);
        } finally {
            channel.shutdownNow().awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    @Test
    void adminApiFailsClosedWithoutAConfiguredToken() {
        expectError(client.post().uri("/admin/models/" + MODEL + "/promote").header("Authorization", "Bearer anything").exchange(),
                403, "The admin API is disabled");
        expectError(client.get().uri("/admin/weights").exchange(), 403, "igate.admin-token");
    }

    @Test
    void serverKeepsServingAfterErrors() {
        malformedJsonIs400();
        unknownInputNameIs400ListingTheModelsInputs();
        infer("/v2/models/" + MODEL + "/infer", ServerTestSupport.SEED).expectStatus().isOk()
                .expectBody().jsonPath("$.outputs[0].data[0]").isEqualTo("Pharma-Toxico");
    }
}
