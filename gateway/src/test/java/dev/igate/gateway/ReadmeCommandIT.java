package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.igate.demo.TinyClassifier;

/**
 * The README's first command on a fresh machine: the packaged jar started with the JVM settings
 * the README gives (read from README.md, so the two cannot drift apart) on an empty repository,
 * where it builds every demo model within that heap and serves them. The same repository holds a
 * copy of the demo classifier set to int8, quantized at load within that heap too, and a model
 * whose weights alone are larger than the heap: its version fails with the reason, a tiny
 * classifier the loader takes after it loads, and the process serves on through loads of the huge
 * model that fail again.
 */
class ReadmeCommandIT {

    static final Path WORK = Path.of("target", "readme-command").toAbsolutePath();
    static final Pattern COMMAND = Pattern.compile("(?m)^mvn [^\\n]*&& java (.*) -jar gateway/target/igate\\.jar$");
    static final List<String> DEMO_MODELS = List.of("BERTSeqClassification", "BERTTokenClassification", "BERTPairClassification",
            "BERTCrossEncoder");
    static final String ADMIN = "Bearer readme-token";
    static List<String> jvm;
    static int port;
    static Process server;

    @BeforeAll
    static void start() throws Exception {
        Matcher m = COMMAND.matcher(Files.readString(SplitDeploymentIT.ROOT.toPath().resolve("README.md")));
        assertThat(m.find()).as("the README's command that builds and runs the server").isTrue();
        jvm = Arrays.asList(m.group(1).trim().split("\\s+"));
        ServerTestSupport.deleteTree(WORK);
        Path repository = Files.createDirectories(WORK.resolve("models"));
        // the demo classifier under another name, set to int8: the link resolves once the server has built it
        Files.createSymbolicLink(repository.resolve("Int8"), Path.of("BERTSeqClassification"));
        writeHuge(repository.resolve("Huge").resolve("1"));
        TinyClassifier.write(repository.resolve("Tiny").resolve("1"), "Tanh", 3);
        port = SplitDeploymentIT.freePort();
        List<String> command = new ArrayList<>(List.of("java"));
        command.addAll(jvm);
        command.addAll(List.of("-jar", SplitDeploymentIT.JAR.toString(), "--server.port=" + port, "--igate.grpc.port=0",
                "--igate.model-repository=" + repository, "--igate.storage-cache=" + WORK.resolve("cache"),
                "--igate.admin-token=readme-token", "--igate.models.Int8.quantize=int8"));
        server = new ProcessBuilder(command).directory(SplitDeploymentIT.ROOT).redirectErrorStream(true)
                .redirectOutput(WORK.resolve("server.log").toFile()).start();
    }

    /** y = x W, W a 6,144 x 6,144 float matrix: 151 MB of weights, more than the README's heap holds in one piece. */
    static void writeHuge(Path versionDir) throws Exception {
        int n = 6144;
        var weights = ai.onnx.proto.OnnxMl.TensorProto.newBuilder().setName("w").addDims(n).addDims(n)
                .setDataType(ai.onnx.proto.OnnxMl.TensorProto.DataType.FLOAT_VALUE)
                .setRawData(com.google.protobuf.UnsafeByteOperations.unsafeWrap(new byte[n * n * 4]));
        var graph = ai.onnx.proto.OnnxMl.GraphProto.newBuilder().setName("huge")
                .addInput(dev.igate.predictor.onnx.OnnxProtos.tensorValue("x", ai.onnx.proto.OnnxMl.TensorProto.DataType.FLOAT, "batch", (long) n))
                .addOutput(dev.igate.predictor.onnx.OnnxProtos.tensorValue("y", ai.onnx.proto.OnnxMl.TensorProto.DataType.FLOAT, "batch", (long) n))
                .addInitializer(weights)
                .addNode(dev.igate.predictor.onnx.OnnxProtos.node("MatMul", "product", List.of("x", "w"), List.of("y")));
        Files.createDirectories(versionDir);
        dev.igate.predictor.onnx.OnnxProtos.write(versionDir.resolve("model.onnx"), ai.onnx.proto.OnnxMl.ModelProto.newBuilder()
                .setIrVersion(8).addOpsetImport(ai.onnx.proto.OnnxMl.OperatorSetIdProto.newBuilder().setVersion(13)).setGraph(graph).build());
    }

    @AfterAll
    static void stop() throws InterruptedException {
        if (server != null) {
            server.destroy();
            server.waitFor();
        }
    }

    static String get(String path) throws Exception {
        return SplitDeploymentIT.get(port, path).body();
    }

    @Test
    void theReadmesCommandBuildsAndServesEveryDemoModelAnInt8CopyAndALoadTooLargeForItsHeapFailsWithTheReason() throws Exception {
        assertThat(jvm).as("the README's JVM settings").anyMatch(a -> a.startsWith("-Xmx"));
        await().atMost(Duration.ofMinutes(4)).pollInterval(Duration.ofMillis(500)).ignoreExceptions()
                .until(() -> get("/v2/models/Tiny/ready").contains("\"ready\":true"));
        for (String model : DEMO_MODELS) {
            assertThat(get("/v2/models/" + model + "/ready")).as(model).contains("\"ready\":true");
        }
        HttpResponse<String> seed = SplitDeploymentIT.post(port, "/v1/models/BERTSeqClassification:predict",
                "{\"instances\": [\"" + ServerTestSupport.SEED_TEXT + "\"]}");
        assertThat(seed.body()).isEqualTo("{\"predictions\":[\"Pharma-Toxico\"]}");

        // the int8 copy of both versions of the demo classifier, quantized at load within the same heap
        for (String version : List.of("1", "2")) {
            assertThat(get("/v2/models/Int8/versions/" + version)).contains("\"quantization\":\"int8\"");
            assertThat(get("/v2/models/Int8/versions/" + version + "/ready")).contains("\"ready\":true");
        }
        assertThat(SplitDeploymentIT.post(port, "/v1/models/Int8:predict", "{\"instances\": [\"" + ServerTestSupport.SEED_TEXT + "\"]}")
                .body()).isEqualTo("{\"predictions\":[\"Pharma-Toxico\"]}");

        // the huge model failed with the reason, and the loader went on to the tiny model after it
        assertThat(get("/v2/models/Huge/versions/1/ready")).contains("\"ready\":false")
                .contains("Java ran out of memory while loading it").contains("give the server a larger -Xmx");
        String log = Files.readString(WORK.resolve("server.log"));
        assertThat(log.indexOf("Model Tiny version 1 ready")).isGreaterThan(log.lastIndexOf("Model Huge version"));

        for (int attempt = 0; attempt < 3; attempt++) {
            // an operator's load of the huge model fails again with the reason, and costs the server nothing
            HttpResponse<String> load = SplitDeploymentIT.http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                            + "/v2/repository/models/Huge/load")).header("Authorization", ADMIN).timeout(Duration.ofMinutes(2))
                    .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(load.statusCode()).as(load.body()).isBetween(400, 599);
            assertThat(load.body()).contains("ran out of memory");

            HttpResponse<String> huge = SplitDeploymentIT.post(port, "/v2/models/Huge/infer",
                    "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 2], \"datatype\": \"FP32\", \"data\": [1, 2]}]}");
            assertThat(huge.statusCode()).isEqualTo(503);
            assertThat(huge.body()).contains("Model Huge failed to load: Java ran out of memory");
            for (String model : List.of("Tiny", "BERTSeqClassification", "Int8")) {
                HttpResponse<String> served = SplitDeploymentIT.post(port, "/v1/models/" + model + ":predict",
                        "{\"instances\": [\"a short text\"]}");
                assertThat(served.statusCode()).as(served.body()).isEqualTo(200);
            }
        }
        assertThat(SplitDeploymentIT.get(port, "/v2/health/live").statusCode()).isEqualTo(200);
        assertThat(server.isAlive()).isTrue();
    }
}
