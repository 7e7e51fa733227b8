package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import dev.igate.gateway.grpc.GrpcServer;
import dev.igate.grpc.v2.GRPCInferenceServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.stub.MetadataUtils;
import io.opentelemetry.proto.trace.v1.Span;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.http.MediaType;
import org.springframework.kafka.test.EmbeddedKafkaKraftBroker;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.context.TestPropertySource;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * Traces across the whole path (issue 28), exported over OTLP/HTTP to a receiver in the test JVM
 * that decodes them with OpenTelemetry's protobuf definitions: a REST V2 infer, a gRPC infer and a
 * Kafka record sent with a W3C {@code traceparent} each get a server (or consumer) span of that
 * trace under the caller's span, with the stages below it; an unsampled call exports nothing but
 * is logged with its trace id; a batch run links every request it served.
 */
@ExtendWith(OutputCaptureExtension.class)
// the endpoint is known when the environment is prepared (igate's tracing defaults read it then): a placeholder of a system property
@TestPropertySource(properties = {"management.opentelemetry.tracing.export.otlp.endpoint=${igate.test.otlp-endpoint}",
        "management.tracing.sampling.probability=1.0",
        "management.opentelemetry.tracing.export.schedule-delay=100ms", "igate.access-log.enabled=true",
        "igate.kafka.group-id=igate-tracing",
        // V1 predict through weighted stable and canary routes, as the shipped configuration has them
        "spring.cloud.gateway.server.webflux.routes[0].id=traced-stable",
        "spring.cloud.gateway.server.webflux.routes[0].uri=forward:/v1/models/BERTSeqClassification/versions/1:predict",
        "spring.cloud.gateway.server.webflux.routes[0].predicates[0]=Path=/v1/models/BERTSeqClassification:predict",
        "spring.cloud.gateway.server.webflux.routes[0].predicates[1]=Weight=traced-predict, 50",
        "spring.cloud.gateway.server.webflux.routes[0].metadata.model=BERTSeqClassification",
        "spring.cloud.gateway.server.webflux.routes[0].metadata.version=1",
        "spring.cloud.gateway.server.webflux.routes[0].metadata.revision=stable",
        "spring.cloud.gateway.server.webflux.routes[1].id=traced-canary",
        "spring.cloud.gateway.server.webflux.routes[1].uri=forward:/v1/models/BERTSeqClassification/versions/2:predict",
        "spring.cloud.gateway.server.webflux.routes[1].predicates[0]=Path=/v1/models/BERTSeqClassification:predict",
        "spring.cloud.gateway.server.webflux.routes[1].predicates[1]=Weight=traced-predict, 50",
        "spring.cloud.gateway.server.webflux.routes[1].metadata.model=BERTSeqClassification",
        "spring.cloud.gateway.server.webflux.routes[1].metadata.version=2",
        "spring.cloud.gateway.server.webflux.routes[1].metadata.revision=canary",
        // V2 infer's weighted routes: what gRPC and Kafka calls without a version are chosen by too
        "spring.cloud.gateway.server.webflux.routes[2].id=traced-infer-stable",
        "spring.cloud.gateway.server.webflux.routes[2].uri=forward:/v2/models/BERTSeqClassification/versions/1/infer",
        "spring.cloud.gateway.server.webflux.routes[2].predicates[0]=Path=/v2/models/BERTSeqClassification/infer",
        "spring.cloud.gateway.server.webflux.routes[2].predicates[1]=Weight=traced-infer, 50",
        "spring.cloud.gateway.server.webflux.routes[2].filters[0]=Revision=stable",
        "spring.cloud.gateway.server.webflux.routes[2].metadata.model=BERTSeqClassification",
        "spring.cloud.gateway.server.webflux.routes[2].metadata.version=1",
        "spring.cloud.gateway.server.webflux.routes[2].metadata.revision=stable",
        "spring.cloud.gateway.server.webflux.routes[3].id=traced-infer-canary",
        "spring.cloud.gateway.server.webflux.routes[3].uri=forward:/v2/models/BERTSeqClassification/versions/2/infer",
        "spring.cloud.gateway.server.webflux.routes[3].predicates[0]=Path=/v2/models/BERTSeqClassification/infer",
        "spring.cloud.gateway.server.webflux.routes[3].predicates[1]=Weight=traced-infer, 50",
        "spring.cloud.gateway.server.webflux.routes[3].filters[0]=Revision=canary",
        "spring.cloud.gateway.server.webflux.routes[3].metadata.model=BERTSeqClassification",
        "spring.cloud.gateway.server.webflux.routes[3].metadata.version=2",
        "spring.cloud.gateway.server.webflux.routes[3].metadata.revision=canary"})
class TracingIT extends ServerTestSupport {

    static final OtlpReceiver RECEIVER;
    static EmbeddedKafkaKraftBroker broker;
    /** The payload logger's HTTP sink: the ce-traceparent header of each CloudEvent it gets. */
    static com.sun.net.httpserver.HttpServer payloadSink;
    static final java.util.Queue<String> LOGGED_TRACEPARENTS = new java.util.concurrent.ConcurrentLinkedQueue<>();

    static {
        try {
            RECEIVER = new OtlpReceiver();
            System.setProperty("igate.test.otlp-endpoint", RECEIVER.endpoint());
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @DynamicPropertySource
    static void tracing(DynamicPropertyRegistry registry) {
        if (broker == null) {
            broker = new EmbeddedKafkaKraftBroker(1, 1, "igate-input", "igate-output", "igate-dead-letter");
            broker.afterPropertiesSet();
        }
        registry.add("igate.kafka.bootstrap-servers", broker::getBrokersAsString);
        if (payloadSink == null) {
            try {
                payloadSink = com.sun.net.httpserver.HttpServer.create(new java.net.InetSocketAddress("127.0.0.1", 0), 0);
            } catch (java.io.IOException e) {
                throw new IllegalStateException(e);
            }
            payloadSink.createContext("/", exchange -> {
                exchange.getRequestBody().readAllBytes();
                String traceparent = exchange.getRequestHeaders().getFirst("ce-traceparent");
                LOGGED_TRACEPARENTS.add(traceparent == null ? "" : traceparent);
                exchange.sendResponseHeaders(202, -1);
                exchange.close();
            });
            payloadSink.start();
        }
        registry.add("igate.models.BERTSeqClassification.logger.mode", () -> "all");
        registry.add("igate.models.BERTSeqClassification.logger.url", () -> "http://127.0.0.1:" + payloadSink.getAddress().getPort() + "/");
    }

    @AfterAll
    static void stop() {
        RECEIVER.close();
        if (payloadSink != null) {
            payloadSink.stop(0);
        }
    }

    @Autowired
    GrpcServer grpc;

    @org.springframework.boot.test.web.server.LocalServerPort
    int port;

    /**
     * A client of its own, outside the test context: the context's WebTestClient is observed too,
     * and would send a traceparent of its own in place of the test's.
     */
    org.springframework.test.web.reactive.server.WebTestClient caller() {
        return org.springframework.test.web.reactive.server.WebTestClient.bindToServer().baseUrl("http://127.0.0.1:" + port)
                .responseTimeout(Duration.ofSeconds(60)).build();
    }

    static String id(int bytes) {
        byte[] b = new byte[bytes];
        ThreadLocalRandom.current().nextBytes(b);
        b[0] |= 1;
        return HexFormat.of().formatHex(b);
    }

    /** The spans of a trace once its span named {@code name} has arrived. */
    static List<Span> awaitTrace(String traceId, String name) {
        try {
            return await().atMost(Duration.ofSeconds(30)).until(() -> RECEIVER.trace(traceId),
                    spans -> spans.stream().anyMatch(s -> s.getName().equals(name)));
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            throw new AssertionError("no span " + name + " of trace " + traceId + " among the " + RECEIVER.all().size() + " received: "
                    + RECEIVER.all().stream().limit(40).map(s -> hex(s.getTraceId()) + "/" + s.getName()).toList(), e);
        }
    }

    static String hex(com.google.protobuf.ByteString bytes) {
        return OtlpReceiver.hex(bytes.toByteArray());
    }

    /** A trace's server (or consumer) span, once it has arrived: it ends after the answer, so it may come after its stages. */
    static Span entry(String traceId) {
        return await().atMost(Duration.ofSeconds(30)).until(() -> RECEIVER.trace(traceId).stream()
                .filter(s -> s.getKind() == Span.SpanKind.SPAN_KIND_SERVER || s.getKind() == Span.SpanKind.SPAN_KIND_CONSUMER)
                .findFirst(), java.util.Optional::isPresent).orElseThrow();
    }

    /** The names of the spans whose parent is {@code parent}. */
    static Set<String> children(List<Span> spans, Span parent) {
        return spans.stream().filter(s -> s.getParentSpanId().equals(parent.getSpanId())).map(Span::getName).collect(Collectors.toSet());
    }

    /** A V2 infer of the seed sentence with this traceparent, its answer read to the end. */
    void infer(String path, String traceparent) {
        caller().post().uri(path, MODEL).contentType(MediaType.APPLICATION_JSON).header("traceparent", traceparent).bodyValue(SEED)
                .exchange().expectStatus().isOk().expectBody().returnResult();
    }

    @Test
    void aRestInferWithTraceparentIsAServerSpanOfThatTraceWithItsStagesBelowIt() {
        String trace = id(16);
        String parent = id(8);
        infer("/v2/models/{m}/infer", "00-" + trace + "-" + parent + "-01");

        awaitTrace(trace, "igate.encode");
        Span server = entry(trace);
        assertThat(hex(server.getParentSpanId())).isEqualTo(parent);
        assertThat(OtlpReceiver.attribute(server, "igate.model")).isEqualTo(MODEL);
        assertThat(OtlpReceiver.attribute(server, "igate.version")).isNotNull();
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(children(RECEIVER.trace(trace), server))
                .contains("igate.tokenize", "igate.queue", "igate.batch.run", "igate.decode", "igate.encode"));
        Span run = RECEIVER.trace(trace).stream().filter(s -> s.getName().equals("igate.batch.run")).findFirst().orElseThrow();
        assertThat(OtlpReceiver.attribute(run, "igate.batch.rows")).isEqualTo("1");
        assertThat(OtlpReceiver.attribute(run, "igate.instance")).isNotNull();
        assertThat(run.getLinksList()).anyMatch(l -> hex(l.getSpanId()).equals(hex(server.getSpanId())));
    }

    @Test
    void theCanaryChoiceOfARoutedCallIsASpanOfItsTrace() {
        // the shipped configuration: V1 predict through the model's weighted stable and canary routes
        String trace = id(16);
        caller().post().uri("/v1/models/{m}:predict", MODEL).contentType(MediaType.APPLICATION_JSON)
                .header("traceparent", "00-" + trace + "-" + id(8) + "-01").bodyValue("{\"instances\": [\"" + SEED_TEXT + "\"]}")
                .exchange().expectStatus().isOk().expectBody().returnResult();

        Span route = awaitTrace(trace, "igate.route").stream().filter(s -> s.getName().equals("igate.route")).findFirst().orElseThrow();
        assertThat(OtlpReceiver.attribute(route, "igate.route")).isNotBlank();
        assertThat(OtlpReceiver.attribute(route, "igate.weight_group")).isNotBlank();
        Span server = entry(trace);
        assertThat(route.getParentSpanId()).isEqualTo(server.getSpanId());
        assertThat(OtlpReceiver.attribute(route, "igate.revision")).isIn("stable", "canary");
    }

    @Test
    void thePayloadLogsCloudEventsCarryTheRequestsTraceparent() {
        String trace = id(16);
        infer("/v2/models/{m}/infer", "00-" + trace + "-" + id(8) + "-01");

        // the request and response events, each with CloudEvents' distributed-tracing extension: this trace, igate's span
        List<String> logged = await().atMost(Duration.ofSeconds(30)).until(() -> LOGGED_TRACEPARENTS.stream()
                .filter(t -> t.contains(trace)).toList(), l -> l.size() >= 2);
        awaitTrace(trace, "igate.encode");
        Span server = entry(trace);
        assertThat(logged).allMatch(t -> t.equals("00-" + trace + "-" + hex(server.getSpanId()) + "-01"));
    }

    @Test
    void aGrpcInferJoinsTheTraceOfItsTraceparentMetadata() throws InterruptedException {
        String trace = id(16);
        String parent = id(8);
        Metadata metadata = new Metadata();
        metadata.put(Metadata.Key.of("traceparent", Metadata.ASCII_STRING_MARSHALLER), "00-" + trace + "-" + parent + "-01");
        ManagedChannel channel = GrpcClients.channel(grpc.port());
        try {
            GRPCInferenceServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS)
                    .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(metadata))
                    .modelInfer(GrpcIT.textRequest("", false, null, SEED_TEXT));
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }

        awaitTrace(trace, "inference.GRPCInferenceService/ModelInfer");
        Span server = entry(trace);
        assertThat(server.getKind()).isEqualTo(Span.SpanKind.SPAN_KIND_SERVER);
        assertThat(hex(server.getParentSpanId())).isEqualTo(parent);
        assertThat(OtlpReceiver.attribute(server, "rpc.system")).isEqualTo("grpc");
        assertThat(OtlpReceiver.attribute(server, "rpc.method")).isEqualTo("ModelInfer");
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(children(RECEIVER.trace(trace), server))
                .contains("igate.route", "igate.tokenize", "igate.queue", "igate.batch.run", "igate.encode"));
        // no version named: the weighted V2 infer routes chose the revision, as they do for REST
        Span route = RECEIVER.trace(trace).stream().filter(s -> s.getName().equals("igate.route")).findFirst().orElseThrow();
        assertThat(OtlpReceiver.attribute(route, "igate.weight_group")).isEqualTo("traced-infer");
        assertThat(OtlpReceiver.attribute(route, "igate.revision")).isIn("stable", "canary");
        assertThat(OtlpReceiver.attribute(server, "igate.revision")).isEqualTo(OtlpReceiver.attribute(route, "igate.revision"));
    }

    @Test
    void aKafkaRecordIsAConsumerSpanOfItsTraceWithItsAnswerAndCommitAndItsAnswerCarriesTheTraceOn() {
        String trace = id(16);
        String parent = id(8);
        String key = "traced-" + UUID.randomUUID();
        Properties p = new Properties();
        p.put("bootstrap.servers", broker.getBrokersAsString());
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            ProducerRecord<byte[], byte[]> record = new ProducerRecord<>("igate-input", key.getBytes(StandardCharsets.UTF_8),
                    SEED.getBytes(StandardCharsets.UTF_8));
            record.headers().add("igate-model", MODEL.getBytes(StandardCharsets.UTF_8));
            record.headers().add("traceparent", ("00-" + trace + "-" + parent + "-01").getBytes(StandardCharsets.UTF_8));
            producer.send(record);
        }

        Properties c = new Properties();
        c.put("bootstrap.servers", broker.getBrokersAsString());
        c.put("group.id", "reader-" + UUID.randomUUID());
        c.put("auto.offset.reset", "earliest");
        String answered;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(c, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.subscribe(List.of("igate-output"));
            answered = await().atMost(Duration.ofSeconds(60)).until(() -> {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    Header h = r.headers().lastHeader("traceparent");
                    if (new String(r.key(), StandardCharsets.UTF_8).equals(key) && h != null) {
                        return new String(h.value(), StandardCharsets.UTF_8);
                    }
                }
                return null;
            }, v -> v != null);
        }

        // the answer's traceparent: this trace, a span of igate's (not the producer's), sampled
        assertThat(answered).startsWith("00-" + trace + "-").endsWith("-01").doesNotContain(parent);
        awaitTrace(trace, "igate-output publish");
        Span consumer = entry(trace);
        assertThat(hex(consumer.getParentSpanId())).isEqualTo(parent);
        assertThat(OtlpReceiver.attribute(consumer, "messaging.system")).isEqualTo("kafka");
        assertThat(OtlpReceiver.attribute(consumer, "messaging.destination.name")).isEqualTo("igate-input");
        assertThat(children(RECEIVER.trace(trace), consumer)).contains("igate.route", "igate.tokenize", "igate.batch.run", "igate.encode",
                "igate-output publish");
        // consume, answer, commit: the commit that covered the record's offset, after its answer was acknowledged
        List<Span> spans = awaitTrace(trace, "igate-input commit");
        Span commit = spans.stream().filter(s -> s.getName().equals("igate-input commit")).findFirst().orElseThrow();
        Span publish = spans.stream().filter(s -> s.getName().equals("igate-output publish")).findFirst().orElseThrow();
        assertThat(commit.getParentSpanId()).isEqualTo(consumer.getSpanId());
        assertThat(commit.getStartTimeUnixNano()).isGreaterThanOrEqualTo(publish.getEndTimeUnixNano());
        assertThat(OtlpReceiver.attribute(commit, "messaging.operation.type")).isEqualTo("settle");
        assertThat(OtlpReceiver.attribute(commit, "messaging.consumer.group.name")).isEqualTo("igate-tracing");
        assertThat(Long.parseLong(OtlpReceiver.attribute(commit, "messaging.kafka.offset")))
                .isGreaterThan(Long.parseLong(OtlpReceiver.attribute(consumer, "messaging.kafka.offset")));
    }

    @Test
    void anUnsampledCallExportsNothingAndItsTraceIdIsInTheAccessLog(CapturedOutput output) {
        String unsampled = id(16);
        infer("/v2/models/{m}/infer", "00-" + unsampled + "-" + id(8) + "-00");
        // a sampled call after it: once its spans are here, the exporter has flushed what came before
        String sampled = id(16);
        infer("/v2/models/{m}/infer", "00-" + sampled + "-" + id(8) + "-01");
        awaitTrace(sampled, "igate.encode");

        assertThat(RECEIVER.trace(unsampled)).isEmpty();
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(output.getOut())
                .containsPattern("POST /v2/models/" + MODEL + "/infer 200 [0-9.]+ ms trace=" + unsampled));
    }

    @Test
    void aBatchRunLinksEveryRequestItServed() {
        List<String> traces = Flux.range(0, 24).flatMap(i -> Mono.fromCallable(() -> {
            String trace = id(16);
            infer("/v2/models/{m}/versions/1/infer", "00-" + trace + "-" + id(8) + "-01");
            return trace;
        }).subscribeOn(Schedulers.boundedElastic()), 24).collectList().block(Duration.ofMinutes(1));

        // every request's spans arrived; the runs that served them are spans of one of them each
        await().atMost(Duration.ofSeconds(30)).until(() -> traces.stream().allMatch(t -> RECEIVER.trace(t).stream()
                .anyMatch(s -> s.getName().equals("igate.encode"))));
        Set<String> servers = traces.stream().map(t -> hex(entry(t).getSpanId())).collect(Collectors.toSet());
        java.util.function.Supplier<List<Span>> allRuns = () -> traces.stream().flatMap(t -> RECEIVER.trace(t).stream())
                .filter(s -> s.getName().equals("igate.batch.run")).toList();
        List<Span> runs = await().atMost(Duration.ofSeconds(30)).alias("runs linking all 24 requests")
                .until(allRuns::get, r -> r.stream().mapToLong(s -> s.getLinksCount()).sum() >= 24);
        Span shared = runs.stream().filter(s -> s.getLinksCount() > 1).findFirst().orElseThrow(
                () -> new AssertionError("no run served two of 24 concurrent requests: " + runs.size() + " runs"));
        assertThat(OtlpReceiver.attribute(shared, "igate.batch.requests")).isEqualTo(Integer.toString(shared.getLinksCount()));
        for (var link : shared.getLinksList()) {
            assertThat(servers).contains(hex(link.getSpanId()));
            assertThat(traces).contains(hex(link.getTraceId()));
        }
    }

    @Test
    void latencyHistogramsCarryExemplarsOfSampledTraces() {
        String trace = id(16);
        infer("/v2/models/{m}/infer", "00-" + trace + "-" + id(8) + "-01");

        String openMetrics = client.get().uri("/actuator/prometheus").header("Accept", "application/openmetrics-text;version=1.0.0")
                .exchange().expectStatus().isOk().expectBody(String.class).returnResult().getResponseBody();
        // the request's stage latency, recorded in its span: the exemplar is its trace
        assertThat(openMetrics).containsPattern("request_predict_seconds_bucket\\{[^}]*} [0-9.]+ # \\{span_id=\"[0-9a-f]{16}\",trace_id=\"[0-9a-f]{32}\"}");
    }
}
