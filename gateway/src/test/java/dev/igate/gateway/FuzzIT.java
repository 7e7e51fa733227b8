package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.Test;
import org.springframework.boot.test.web.server.LocalServerPort;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Thousands of generated and mutated requests to every endpoint: random bytes, valid bodies
 * with mutations, structurally random V2 tensors, and hostile model and version names. No answer
 * may be a 5xx other than a 503 (busy or not ready), every body is JSON with an error or a
 * result, the server still answers a valid request afterwards, and the heap does not grow. The
 * same over gRPC: random ModelInfer messages and mutated message bytes get deliberate status codes.
 */
class FuzzIT extends ServerTestSupport {

    static final JsonMapper JSON = JsonMapper.builder().build();
    static final String[] DATATYPES = {"BOOL", "UINT8", "INT8", "INT16", "INT32", "INT64", "FP16", "BF16", "FP32", "FP64",
            "BYTES", "FLOAT", "int64", "", "STRING", "💥"};
    static final String[] NAMES = {"input_ids", "attention_mask", "token_type_ids", "text", "", "x", "../../etc/passwd"};
    static final String[] VALUES = {"null", "true", "-1", "0", "1e400", "-0.0", "99999999999999999999999999", "\"\"",
            "\"text\"", "[]", "{}", "[[1],[2,3]]", "[1,[2]]", "\"\\ud800\"", "NaN", "Infinity", "[null]", "1.5"};

    @LocalServerPort
    int port;

    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    String mutate(Random r, String body) {
        StringBuilder sb = new StringBuilder(body);
        int edits = 1 + r.nextInt(4);
        for (int e = 0; e < edits && sb.length() > 0; e++) {
            int at = r.nextInt(sb.length());
            switch (r.nextInt(6)) {
                case 0 -> sb.delete(at, Math.min(sb.length(), at + 1 + r.nextInt(8)));
                case 1 -> sb.insert(at, VALUES[r.nextInt(VALUES.length)]);
                case 2 -> sb.insert(at, (char) r.nextInt(128));
                case 3 -> sb.setLength(at);
                case 4 -> sb.insert(at, "\"inputs\": [], ");
                default -> sb.replace(at, Math.min(sb.length(), at + 1), String.valueOf("{}[],:\"".charAt(r.nextInt(7))));
            }
        }
        return sb.toString();
    }

    String randomTensors(Random r) {
        StringBuilder sb = new StringBuilder("{\"inputs\": [");
        int n = r.nextInt(4);
        for (int i = 0; i < n; i++) {
            sb.append(i == 0 ? "" : ",").append("{\"name\": \"").append(NAMES[r.nextInt(NAMES.length)])
                    .append("\", \"datatype\": \"").append(DATATYPES[r.nextInt(DATATYPES.length)]).append("\", \"shape\": ")
                    .append(r.nextBoolean() ? "[" + (r.nextInt(5) - 1) + "," + r.nextInt(4) + "]" : VALUES[r.nextInt(VALUES.length)])
                    .append(", \"data\": ");
            if (r.nextBoolean()) {
                sb.append('[');
                int len = r.nextInt(9);
                for (int k = 0; k < len; k++) {
                    sb.append(k == 0 ? "" : ",").append(r.nextBoolean() ? String.valueOf(r.nextInt(40000) - 100) : VALUES[r.nextInt(VALUES.length)]);
                }
                sb.append(']');
            } else {
                sb.append(VALUES[r.nextInt(VALUES.length)]);
            }
            sb.append('}');
        }
        sb.append("]");
        if (r.nextBoolean()) {
            sb.append(", \"parameters\": {\"n_steps\": ").append(VALUES[r.nextInt(VALUES.length)]).append(", \"target\": ")
                    .append(VALUES[r.nextInt(VALUES.length)]).append('}');
        }
        if (r.nextInt(4) == 0) {
            sb.append(", \"outputs\": [{\"name\": ").append(VALUES[r.nextInt(VALUES.length)]).append("}]");
        }
        return sb.append('}').toString();
    }

    record Call(String method, String path, byte[] body, Integer binaryHeader, String encoding) {
    }

    static byte[] compress(String coding, byte[] data) {
        try {
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            try (java.io.OutputStream z = coding.equals("gzip") ? new java.util.zip.GZIPOutputStream(out)
                    : new java.util.zip.DeflaterOutputStream(out)) {
                z.write(data);
            }
            return out.toByteArray();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    List<Call> calls(int count, long seed) {
        Random r = new Random(seed);
        String v1 = "{\"instances\": [\"" + SEED_TEXT + "\"]}";
        String raw = "{\"inputs\": [{\"name\": \"input_ids\", \"shape\": [1, 3], \"datatype\": \"INT64\", \"data\": [101, 2609, 102]},"
                + "{\"name\": \"attention_mask\", \"shape\": [1, 3], \"datatype\": \"INT64\", \"data\": [1, 1, 1]},"
                + "{\"name\": \"token_type_ids\", \"shape\": [1, 3], \"datatype\": \"INT64\", \"data\": [0, 0, 0]}]}";
        String explain = "{\"instances\": [\"short text\"], \"parameters\": {\"n_steps\": 2}}";
        String[] modelNames = {MODEL, MODEL, "..", "%2e%2e", "..%2F..%2Fetc", "a%2Fb", "%00", "ünïcødé", "x".repeat(300), "%20"};
        List<Call> calls = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String m = modelNames[r.nextInt(modelNames.length)];
            String version = r.nextInt(4) == 0 ? "/versions/" + new String[] {"1", "2", "0", "-1", "..", "1.0", "99999999999"}[r.nextInt(7)] : "";
            byte[] body = switch (r.nextInt(6)) {
                case 5 -> {
                    // raw token ids past the vocabulary, negative, or at its edge
                    long[] ids = {99999, -5, 30522, 30521, Long.MAX_VALUE, Integer.MIN_VALUE, 101};
                    yield raw.replace("[101, 2609, 102]", "[101, " + ids[r.nextInt(ids.length)] + ", 102]").getBytes(StandardCharsets.UTF_8);
                }
                case 0 -> {
                    byte[] b = new byte[r.nextInt(200)];
                    r.nextBytes(b);
                    yield b;
                }
                case 1 -> mutate(r, SEED).getBytes(StandardCharsets.UTF_8);
                case 2 -> mutate(r, r.nextBoolean() ? v1 : raw).getBytes(StandardCharsets.UTF_8);
                case 3 -> randomTensors(r).getBytes(StandardCharsets.UTF_8);
                default -> mutate(r, explain).getBytes(StandardCharsets.UTF_8);
            };
            String path = switch (r.nextInt(7)) {
                case 0 -> "/v1/models/" + m + ":predict";
                case 1 -> "/v1/models/" + m + ":explain";
                case 2, 3 -> "/v2/models/" + m + version + "/infer";
                case 4 -> "/v2/models/" + m + version + "/explain";
                case 5 -> "/v2/models/" + m + version;
                default -> "/v2/models/" + m + version + "/ready";
            };
            boolean get = path.endsWith("/ready") || !(path.contains(":") || path.endsWith("/infer") || path.endsWith("/explain"));
            Integer binaryHeader = null;
            if (path.endsWith("/infer") && r.nextInt(4) == 0) {
                // the binary tensor extension: a JSON header whose length may lie, then random tensor bytes
                byte[] json = mutate(r, "{\"inputs\": [{\"name\": \"input_ids\", \"shape\": [1, 3], \"datatype\": \"INT64\","
                        + " \"parameters\": {\"binary_data_size\": 24}}], \"parameters\": {\"binary_data_output\": true}}")
                        .getBytes(StandardCharsets.UTF_8);
                byte[] tail = new byte[r.nextInt(40)];
                r.nextBytes(tail);
                body = java.util.Arrays.copyOf(json, json.length + tail.length);
                System.arraycopy(tail, 0, body, json.length, tail.length);
                binaryHeader = r.nextInt(3) == 0 ? r.nextInt(body.length + 10) - 5 : json.length;
            }
            String encoding = null;
            if (!get && r.nextInt(6) == 0) {
                // compressed bodies, some cut short, some in codings the server does not take
                encoding = new String[] {"gzip", "deflate", "br", "gzip, deflate", "x-unknown", "identity"}[r.nextInt(6)];
                if (encoding.equals("gzip") || encoding.equals("deflate")) {
                    body = compress(encoding, body);
                    if (r.nextInt(3) == 0) {
                        body = java.util.Arrays.copyOf(body, r.nextInt(body.length + 1));
                    }
                }
            }
            calls.add(new Call(get ? "GET" : "POST", path, body, binaryHeader, encoding));
        }
        return calls;
    }

    final java.util.Map<Integer, Integer> statuses = new java.util.concurrent.ConcurrentSkipListMap<>();

    String send(Call call) throws Exception {
        URI uri;
        try {
            uri = URI.create("http://127.0.0.1:" + port + call.path());
        } catch (IllegalArgumentException notAUri) {
            return null;
        }
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(60));
        b = call.method().equals("GET") ? b.GET() : b.header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(call.body()));
        if (call.encoding() != null) {
            b = b.header("Content-Encoding", call.encoding());
        }
        if (call.binaryHeader() != null) {
            b = b.header("Inference-Header-Content-Length", String.valueOf(call.binaryHeader()));
        }
        HttpResponse<byte[]> response;
        try {
            response = http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (java.net.http.HttpTimeoutException e) {
            return "no answer within 60 s for " + call.method() + " " + call.path() + " " + new String(call.body(), StandardCharsets.UTF_8);
        }
        int status = response.statusCode();
        statuses.merge(status, 1, Integer::sum);
        String text = new String(response.body(), StandardCharsets.UTF_8);
        if (status >= 500 && status != 503) {
            return status + " for " + call.method() + " " + call.path() + " " + new String(call.body(), StandardCharsets.UTF_8) + " -> " + text;
        }
        byte[] jsonPart = response.body();
        String headerLength = response.headers().firstValue("Inference-Header-Content-Length").orElse(null);
        if (status == 200 && headerLength != null) {
            jsonPart = java.util.Arrays.copyOf(response.body(), Integer.parseInt(headerLength));
        }
        JsonNode json;
        try {
            json = JSON.readTree(jsonPart);
        } catch (RuntimeException e) {
            return "not JSON (" + status + ") for " + call.path() + ": " + text;
        }
        if (status >= 400 && (json == null || !json.path("error").isString())) {
            return "no error message (" + status + ") for " + call.path() + ": " + text;
        }
        if (text.contains("Exception") || text.contains("\tat ") || text.contains("/work/") || text.contains("/tmp/")) {
            return "leaks internals (" + status + ") for " + call.path() + ": " + text;
        }
        return null;
    }

    static long usedHeap() {
        System.gc();
        Runtime rt = Runtime.getRuntime();
        return rt.totalMemory() - rt.freeMemory();
    }

    @Test
    void thousandsOfHostileRequestsGetCleanAnswersAndTheServerKeepsServing() throws Exception {
        List<Call> warmUp = calls(300, 1);
        for (Call c : warmUp) {
            send(c);
        }
        long heapBefore = usedHeap();

        List<Call> calls = calls(3000, 42);
        List<String> problems = Collections.synchronizedList(new ArrayList<>());
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (Call c : calls) {
                futures.add(pool.submit(() -> {
                    String problem = send(c);
                    if (problem != null) {
                        problems.add(problem);
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }

        System.out.println("Fuzz status counts: " + statuses);
        assertThat(problems).isEmpty();
        assertThat(statuses).containsKeys(200, 400, 404, 415);
        client.post().uri("/v2/models/{m}/infer", MODEL).bodyValue(SEED).exchange().expectStatus().isOk()
                .expectBody().jsonPath("$.outputs[0].data[0]").isEqualTo("Pharma-Toxico");
        client.get().uri("/v2/health/ready").exchange().expectStatus().isOk();
        assertThat(usedHeap() - heapBefore).as("heap growth over 3000 requests").isLessThan(256L * 1024 * 1024);
    }

    static final io.grpc.MethodDescriptor<byte[], byte[]> RAW_MODEL_INFER = io.grpc.MethodDescriptor.<byte[], byte[]>newBuilder()
            .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
            .setFullMethodName(dev.igate.grpc.v2.GRPCInferenceServiceGrpc.getModelInferMethod().getFullMethodName())
            .setRequestMarshaller(BytesMarshaller.INSTANCE).setResponseMarshaller(BytesMarshaller.INSTANCE).build();

    /** Sends bytes as they are, so the server parses them itself. */
    enum BytesMarshaller implements io.grpc.MethodDescriptor.Marshaller<byte[]> {
        INSTANCE;

        @Override
        public java.io.InputStream stream(byte[] value) {
            return new java.io.ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(java.io.InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
    }

    static dev.igate.grpc.v2.ModelInferRequest randomGrpcRequest(Random r) {
        String[] models = {MODEL, MODEL, MODEL, "", "NoSuchModel", "../x", "💥", ".hidden"};
        String[] versions = {"", "", "1", "2", "9", "abc", "../1"};
        long[] dims = {-1, 0, 1, 1, 2, 3, 16, 1 << 20, Long.MAX_VALUE};
        var b = dev.igate.grpc.v2.ModelInferRequest.newBuilder().setModelName(models[r.nextInt(models.length)])
                .setModelVersion(versions[r.nextInt(versions.length)]).setId(r.nextBoolean() ? "" : "id-" + r.nextInt());
        int inputs = r.nextInt(4);
        boolean raw = r.nextInt(3) == 0;
        for (int i = 0; i < inputs; i++) {
            var in = dev.igate.grpc.v2.ModelInferRequest.InferInputTensor.newBuilder()
                    .setName(NAMES[r.nextInt(NAMES.length)]).setDatatype(DATATYPES[r.nextInt(DATATYPES.length)]);
            int rank = r.nextInt(4);
            for (int d = 0; d < rank; d++) {
                in.addShape(dims[r.nextInt(dims.length)]);
            }
            var c = dev.igate.grpc.v2.InferTensorContents.newBuilder();
            int n = r.nextInt(20);
            for (int k = 0; k < n; k++) {
                switch (r.nextInt(8)) {
                    case 0 -> c.addBoolContents(r.nextBoolean());
                    case 1 -> c.addIntContents(r.nextInt());
                    case 2 -> c.addInt64Contents(r.nextInt(10) == 0 ? 30522 + r.nextInt(100000) : r.nextInt(30522));
                    case 3 -> c.addUintContents(r.nextInt());
                    case 4 -> c.addUint64Contents(r.nextLong());
                    case 5 -> c.addFp32Contents(r.nextInt(10) == 0 ? Float.NaN : r.nextFloat());
                    case 6 -> c.addFp64Contents(r.nextDouble());
                    default -> c.addBytesContents(com.google.protobuf.ByteString.copyFromUtf8(r.nextBoolean() ? SEED_TEXT
                            : VALUES[r.nextInt(VALUES.length)]));
                }
            }
            if (!raw || r.nextInt(5) == 0) {
                in.setContents(c);
            }
            b.addInputs(in);
            if (raw) {
                byte[] bytes = new byte[r.nextInt(40)];
                r.nextBytes(bytes);
                b.addRawInputContents(com.google.protobuf.ByteString.copyFrom(bytes));
            }
        }
        if (r.nextInt(4) == 0) {
            b.addOutputs(dev.igate.grpc.v2.ModelInferRequest.InferRequestedOutputTensor.newBuilder()
                    .setName(r.nextBoolean() ? "logits" : NAMES[r.nextInt(NAMES.length)]));
        }
        if (r.nextInt(4) == 0) {
            b.putParameters(r.nextBoolean() ? "binary_data_output" : "return_probabilities",
                    r.nextBoolean() ? dev.igate.grpc.v2.InferParameter.newBuilder().setBoolParam(true).build()
                            : dev.igate.grpc.v2.InferParameter.getDefaultInstance());
        }
        return b.build();
    }

    /** Null when the status is one the server answers on purpose, else the problem. */
    static String grpcProblem(io.grpc.Status status, String what) {
        String description = String.valueOf(status.getDescription());
        if (description.contains("Exception") || description.contains("\tat ") || description.contains("/work/")) {
            return "leaks internals: " + status + " for " + what;
        }
        return switch (status.getCode()) {
            case OK, INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE, RESOURCE_EXHAUSTED -> null;
            default -> status + " for " + what;
        };
    }

    @Test
    void thousandsOfHostileGrpcCallsGetDeliberateStatusCodesAndTheServerKeepsServing(
            @org.springframework.beans.factory.annotation.Autowired dev.igate.gateway.grpc.GrpcServer grpc) throws Exception {
        io.grpc.ManagedChannel channel = GrpcClients.channel(grpc.port());
        java.util.Map<io.grpc.Status.Code, Integer> codes = new java.util.concurrent.ConcurrentHashMap<>();
        List<String> problems = Collections.synchronizedList(new ArrayList<>());
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            Random r = new Random(7);
            byte[] valid = GrpcIT.textRequest("", false, null, SEED_TEXT).toByteArray();
            List<Future<?>> futures = new ArrayList<>();
            for (int i = 0; i < 2000; i++) {
                byte[] message;
                if (i % 4 == 3) {
                    message = mutate(r, new String(valid, StandardCharsets.ISO_8859_1)).getBytes(StandardCharsets.ISO_8859_1);
                } else if (i % 8 == 2) {
                    // well-formed token tensors with an id past the vocabulary (or negative)
                    long[] ids = {101, new long[] {30522, 99999, -1, Long.MAX_VALUE}[r.nextInt(4)], 102};
                    var request = dev.igate.grpc.v2.ModelInferRequest.newBuilder().setModelName(MODEL);
                    for (String name : new String[] {"input_ids", "attention_mask", "token_type_ids"}) {
                        var contents = dev.igate.grpc.v2.InferTensorContents.newBuilder();
                        for (long id : ids) {
                            contents.addInt64Contents(name.equals("input_ids") ? id : name.equals("attention_mask") ? 1 : 0);
                        }
                        request.addInputs(dev.igate.grpc.v2.ModelInferRequest.InferInputTensor.newBuilder().setName(name)
                                .setDatatype("INT64").addShape(1).addShape(3).setContents(contents));
                    }
                    message = request.build().toByteArray();
                } else {
                    message = randomGrpcRequest(r).toByteArray();
                }
                futures.add(pool.submit(() -> {
                    io.grpc.Status status;
                    try {
                        io.grpc.CallOptions options = io.grpc.CallOptions.DEFAULT.withDeadlineAfter(60, java.util.concurrent.TimeUnit.SECONDS);
                        // every fifth call compressed, as Triton's client does when asked
                        io.grpc.stub.ClientCalls.blockingUnaryCall(channel, RAW_MODEL_INFER,
                                message.length % 5 == 0 ? options.withCompression("gzip") : options, message);
                        status = io.grpc.Status.OK;
                    } catch (io.grpc.StatusRuntimeException e) {
                        status = e.getStatus();
                    }
                    codes.merge(status.getCode(), 1, Integer::sum);
                    String problem = grpcProblem(status, java.util.HexFormat.of().formatHex(message));
                    if (problem != null) {
                        problems.add(problem);
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get();
            }
            System.out.println("gRPC fuzz status counts: " + codes);
            assertThat(problems).isEmpty();
            assertThat(codes).containsKeys(io.grpc.Status.Code.OK, io.grpc.Status.Code.INVALID_ARGUMENT, io.grpc.Status.Code.NOT_FOUND);
            var stub = dev.igate.grpc.v2.GRPCInferenceServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, java.util.concurrent.TimeUnit.SECONDS);
            assertThat(dev.igate.grpc.GrpcCodec.decodeOutputs(stub.modelInfer(GrpcIT.textRequest("", false, null, SEED_TEXT)))
                    .get(0).strings()).containsExactly("Pharma-Toxico");
        } finally {
            pool.shutdownNow();
            channel.shutdownNow().awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
        }
    }
}
