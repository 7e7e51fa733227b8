package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import dev.igate.demo.DemoRepository;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Gateway, transformer and predictor as three JVMs on loopback ports, started from the packaged
 * jar with the profiles the README documents: the seed request goes gateway → transformer
 * (tokenizer) → predictor (ONNX Runtime) and back. A fourth JVM, a whole server, is the canary
 * taking half the predictions: killed with SIGKILL mid-load, it costs no request (the calls it
 * fails go to the stable revision) and gets no share afterwards; a stage that goes down answers
 * 503 quickly.
 */
@org.junit.jupiter.api.TestMethodOrder(org.junit.jupiter.api.MethodOrderer.MethodName.class)
class SplitDeploymentIT {

    static final Path JAR = Path.of("target", "igate.jar").toAbsolutePath();
    static final File ROOT = new File("..").getAbsoluteFile();
    static final List<Process> processes = new ArrayList<>();
    static final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    static int predictor;
    static int transformer;
    static int gateway;
    static int canary;
    static Process predictorProcess;
    /** Where the transformer and the predictor export their traces. */
    static OtlpReceiver traces;
    static Process transformerProcess;
    static Process canaryProcess;

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** The demo model and a tiny classifier without token_type_ids (as DistilBERT and RoBERTa exports). */
    static final Path SPLIT_REPOSITORY = Path.of("target", "split-deployment", "models").toAbsolutePath();

    static Process start(String profile, Path log, String... args) throws IOException {
        return start(profile, log, ServerTestSupport.DEMO_REPOSITORY, args);
    }

    static Process start(String profile, Path log, Path repository, String... args) throws IOException {
        // C1 only: four JVMs starting at once on two cores start 10-17 s sooner without C2's compilations, and these tests
        // measure nothing (KafkaCrashIT's servers keep C2: their sustained Java work was slower under C1)
        List<String> command = new ArrayList<>(List.of("java", "-Xmx512m", "-XX:TieredStopAtLevel=1", "-jar", JAR.toString(),
                "--spring.profiles.active=" + profile, "--igate.model-repository=" + repository,
                "--igate.grpc.port=0", "--igate.demo-task-models=false",
                // no serving warm-up before readiness (ServingWarmUpIT's subject): four JVMs warming up at once on two cores
                "--igate.warm-up.max-duration=0s"));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).directory(ROOT).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        processes.add(p);
        return p;
    }

    @BeforeAll
    static void startAll() throws Exception {
        DemoRepository.ensure(ServerTestSupport.DEMO_REPOSITORY);
        predictor = freePort();
        transformer = freePort();
        gateway = freePort();
        canary = freePort();
        Path logs = Files.createDirectories(Path.of("target", "split-deployment"));
        Files.createDirectories(SPLIT_REPOSITORY);
        Path demo = SPLIT_REPOSITORY.resolve(ServerTestSupport.MODEL);
        if (!Files.exists(demo)) {
            Files.createSymbolicLink(demo, ServerTestSupport.DEMO_REPOSITORY.resolve(ServerTestSupport.MODEL));
        }
        dev.igate.demo.TinyClassifier.write(SPLIT_REPOSITORY.resolve("Tiny").resolve("1"), "Tanh", 1);
        traces = new OtlpReceiver();
        String[] tracing = {"--management.opentelemetry.tracing.export.otlp.endpoint=" + traces.endpoint(),
                "--management.tracing.sampling.probability=1.0", "--management.opentelemetry.tracing.export.schedule-delay=100ms"};
        predictorProcess = start("predictor", logs.resolve("predictor.log"), SPLIT_REPOSITORY, concat(tracing, "--server.port=" + predictor));
        transformerProcess = start("transformer", logs.resolve("transformer.log"), SPLIT_REPOSITORY, concat(tracing,
                "--server.port=" + transformer, "--igate.predictor-url=http://127.0.0.1:" + predictor));
        // the canary: a whole server (tokenizer and model in one process), the default profile
        canaryProcess = start("default", logs.resolve("canary.log"), "--server.port=" + canary);
        start("gateway", logs.resolve("gateway.log"), concat(tracing, "--server.port=" + gateway,
                "--igate.model-repository=" + logs.resolve("no-models").toAbsolutePath(),
                "--TRANSFORMER_URL=http://127.0.0.1:" + transformer, "--PREDICTOR_URL=http://127.0.0.1:" + predictor,
                "--CANARY_URL=http://127.0.0.1:" + canary, "--CANARY_STABLE_WEIGHT=50", "--CANARY_WEIGHT=50"));
        for (int port : new int[] {predictor, transformer, canary, gateway}) {
            awaitReady(port);
        }
    }

    static String[] concat(String[] a, String... b) {
        List<String> all = new ArrayList<>(List.of(a));
        all.addAll(List.of(b));
        return all.toArray(String[]::new);
    }

    static void awaitReady(int port) {
        await().alias("process on port " + port + " ready").atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(250))
                .ignoreExceptions().until(() -> get(port, "/v2/health/ready").statusCode() == 200);
    }

    @AfterAll
    static void stopAll() {
        if (traces != null) {
            traces.close();
        }
        processes.forEach(Process::destroy);
        for (Process p : processes) {
            try {
                p.waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    static HttpResponse<String> get(int port, String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> post(int port, String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void canaryKilledWithSigkillMidLoadCostsNoRequest() throws Exception {
        // given: eight closed-loop clients, half their calls served by the canary
        AtomicInteger answered = new AtomicInteger();
        AtomicInteger byCanary = new AtomicInteger();
        List<String> failures = new CopyOnWriteArrayList<>();
        AtomicBoolean stop = new AtomicBoolean();
        ExecutorService clients = Executors.newFixedThreadPool(8);
        for (int c = 0; c < 8; c++) {
            clients.submit(() -> {
                while (!stop.get()) {
                    try {
                        HttpResponse<String> r = post(gateway, "/v2/models/BERTSeqClassification/infer", ServerTestSupport.SEED);
                        if (r.statusCode() == 200 && r.body().contains("\"data\":[\"Pharma-Toxico\"]")) {
                            answered.incrementAndGet();
                            if (r.headers().firstValue("X-Revision").orElse("").equals("canary")) {
                                byCanary.incrementAndGet();
                            }
                        } else {
                            failures.add(r.statusCode() + " " + r.body());
                        }
                    } catch (Exception e) {
                        failures.add(e.toString());
                    }
                }
            });
        }
        try {
            await().atMost(Duration.ofMinutes(2)).until(() -> byCanary.get() >= 20 || !failures.isEmpty());
            // when: the canary dies mid-load, without a chance to drain
            canaryProcess.destroyForcibly();
            canaryProcess.waitFor();
            int atKill = answered.get();
            await().atMost(Duration.ofMinutes(2)).until(() -> answered.get() >= atKill + 200 || failures.size() > 10);
        } finally {
            stop.set(true);
            clients.shutdown();
            clients.awaitTermination(1, TimeUnit.MINUTES);
        }

        // then: every call was answered; those the canary failed went to the stable revision
        assertThat(failures).isEmpty();
        assertThat(get(gateway, "/actuator/prometheus").body())
                .containsPattern("igate_revision_retries_total\\{[^}]*from=\"canary\"[^}]*to=\"stable\"[^}]*} [1-9]");
    }

    /**
     * After the SIGKILL test's load (traced, sampling 1.0): a call the dead canary failed went once
     * more, to the stable revision, in the same trace: the gateway's server span has a failed
     * client span (the canary) and a client span under which the stable transformer served it.
     */
    @Test
    void canaryRetriesAreClientSpansOfTheCallersTrace() {
        List<io.opentelemetry.proto.trace.v1.Span> all;
        try {
            all = await().atMost(Duration.ofSeconds(30)).until(() -> traces.all(), spans -> retried(spans) != null);
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            var byTrace = traces.all().stream().collect(java.util.stream.Collectors.groupingBy(x -> TracingIT.hex(x.getTraceId())));
            throw new AssertionError("no retried trace among " + byTrace.size() + ": " + byTrace.values().stream().limit(400)
                    .filter(l -> l.stream().anyMatch(x -> x.getParentSpanId().isEmpty()))
                    .sorted(java.util.Comparator.comparingInt(l -> -l.size())).limit(1)
                    .map(l -> l.stream().map(x -> x.getName() + "/" + x.getKind() + "/" + x.getStatus().getCode() + "/"
                            + TracingIT.hex(x.getSpanId()).substring(0, 4) + "<" + TracingIT.hex(x.getParentSpanId()) + "/"
                            + x.getAttributesList().stream().map(a -> a.getKey()).toList()).toList().toString())
                    .toList(), e);
        }
        String trace = retried(all);
        List<io.opentelemetry.proto.trace.v1.Span> spans = traces.trace(trace);
        List<io.opentelemetry.proto.trace.v1.Span> clients = spans.stream()
                .filter(x -> x.getKind() == io.opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_CLIENT).toList();
        assertThat(clients).anyMatch(c -> c.getStatus().getCode() == io.opentelemetry.proto.trace.v1.Status.StatusCode.STATUS_CODE_ERROR);
        // the stable transformer's server span is a child of one of the gateway's attempts
        assertThat(spans).anyMatch(x -> x.getKind() == io.opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_SERVER
                && clients.stream().anyMatch(c -> c.getSpanId().equals(x.getParentSpanId())));
    }

    /** A trace whose root server span (the gateway's) has two attempts or more (client spans), one failed; null without. */
    static String retried(List<io.opentelemetry.proto.trace.v1.Span> spans) {
        var byTrace = spans.stream().collect(java.util.stream.Collectors.groupingBy(x -> TracingIT.hex(x.getTraceId())));
        for (var e : byTrace.entrySet()) {
            long attempts = e.getValue().stream().filter(x -> x.getKind() == io.opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_CLIENT)
                    .count();
            boolean failed = e.getValue().stream().anyMatch(x -> x.getKind() == io.opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_CLIENT
                    && x.getStatus().getCode() == io.opentelemetry.proto.trace.v1.Status.StatusCode.STATUS_CODE_ERROR);
            boolean rooted = e.getValue().stream().anyMatch(x -> x.getKind() == io.opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_SERVER
                    && x.getParentSpanId().isEmpty());
            if (rooted && failed && attempts >= 2) {
                return e.getKey();
            }
        }
        return null;
    }

    @Test
    void seedRequestTravelsGatewayTransformerPredictorAndBackWhileTheDeadCanaryGetsNoShare() throws Exception {
        for (int i = 0; i < 10; i++) {
            HttpResponse<String> r = post(gateway, "/v2/models/BERTSeqClassification/infer", ServerTestSupport.SEED);
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(r.body()).contains("\"id\":\"d3b15cad-50a2-4eaf-80ce-8b0a428bd298\"").contains("\"data\":[\"Pharma-Toxico\"]")
                    .contains("\"model_version\":\"1\"");
            assertThat(r.headers().firstValue("X-Revision")).hasValue("stable");
        }
        HttpResponse<String> v1 = post(gateway, "/v1/models/BERTSeqClassification:predict",
                "{\"instances\": [\"" + ServerTestSupport.SEED_TEXT + "\"]}");
        assertThat(v1.body()).isEqualTo("{\"predictions\":[\"Pharma-Toxico\"]}");
        HttpResponse<String> metadata = get(transformer, "/v2/models/BERTSeqClassification");
        assertThat(metadata.body()).contains("\"platform\":\"igate_transformer\"").contains("\"predictor\":\"http://127.0.0.1:" + predictor);
        // Triton's model configuration of a transformer: texts in, labels out, its batching settings (a 500 before the remote model had them)
        HttpResponse<String> config = get(transformer, "/v2/models/BERTSeqClassification/config");
        assertThat(config.statusCode()).as(config.body()).isEqualTo(200);
        assertThat(config.body()).contains("\"platform\":\"igate_transformer\"").contains("\"name\":\"text\"")
                .contains("\"data_type\":\"TYPE_STRING\"").containsPattern("\"max_batch_size\":[1-9]");
    }

    @Test
    void thePredictorsSpansJoinTheTransformersTrace() throws Exception {
        String trace = TracingIT.id(16);
        String parent = TracingIT.id(8);
        HttpResponse<String> answer = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + transformer + "/v2/models/"
                        + ServerTestSupport.MODEL + "/infer")).timeout(Duration.ofSeconds(30)).header("Content-Type", "application/json")
                .header("traceparent", "00-" + trace + "-" + parent + "-01").POST(HttpRequest.BodyPublishers.ofString(ServerTestSupport.SEED))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(answer.statusCode()).isEqualTo(200);

        // two server spans of the caller's trace: the transformer's under the caller, the predictor's under the transformer's
        List<io.opentelemetry.proto.trace.v1.Span> servers = await().atMost(Duration.ofSeconds(30)).until(() -> traces.trace(trace).stream()
                .filter(x -> x.getKind() == io.opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_SERVER).toList(), l -> l.size() >= 2);
        io.opentelemetry.proto.trace.v1.Span front = servers.stream().filter(x -> TracingIT.hex(x.getParentSpanId()).equals(parent))
                .findFirst().orElseThrow();
        io.opentelemetry.proto.trace.v1.Span back = servers.stream().filter(x -> x.getParentSpanId().equals(front.getSpanId()))
                .findFirst().orElseThrow();
        // the transformer tokenized, the predictor queued and ran the batch: each under its own server span
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            assertThat(TracingIT.children(traces.trace(trace), front)).contains("igate.tokenize");
            assertThat(TracingIT.children(traces.trace(trace), back)).contains("igate.queue", "igate.batch.run");
        });
    }

    @Test
    void theTransformerSendsOnlyTheInputsThePredictorsModelTakes() throws Exception {
        // the tiny classifier has no token_type_ids: sending it would be refused by the predictor
        HttpResponse<String> r = post(transformer, "/v1/models/Tiny:predict", "{\"instances\": [\"a short text\", \"another\"]}");

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.body()).startsWith("{\"predictions\":[");
    }

    @Test
    void explanationsAreRoutedToTheProcessThatHoldsTheModel() throws Exception {
        HttpResponse<String> r = post(gateway, "/v1/models/BERTSeqClassification:explain",
                "{\"instances\": [\"" + ServerTestSupport.SEED_TEXT + "\"], \"parameters\": {\"n_steps\": 8}}");

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.body()).contains("\"explanations\"").contains("\"target\":\"Pharma-Toxico\"");
    }

    @Test
    void zzzStagesThatGoDownAnswer503Quickly() throws Exception {
        predictorProcess.destroy();
        predictorProcess.waitFor();

        HttpResponse<String> noPredictor = post(gateway, "/v2/models/BERTSeqClassification/infer", ServerTestSupport.SEED);
        assertThat(noPredictor.statusCode()).isEqualTo(503);
        assertThat(noPredictor.body()).contains("\"error\":\"Remote predictor http://127.0.0.1:" + predictor + " is unavailable");

        transformerProcess.destroy();
        transformerProcess.waitFor();
        HttpResponse<String> noTransformer = post(gateway, "/v2/models/BERTSeqClassification/infer", ServerTestSupport.SEED);
        assertThat(noTransformer.statusCode()).isEqualTo(503);
        // every revision is down now (the canary was killed): the weights fall back to the configured ones
        assertThat(noTransformer.body()).matches("\\{\"error\":\"Upstream revision (stable|canary) unavailable\"}");
    }
}
