package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;

import com.sun.net.httpserver.HttpServer;
import dev.igate.demo.TinyClassifier;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.http.MediaType;
import org.springframework.test.annotation.DirtiesContext;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * A model from an https-style storage URI (plain http in the test): a .tar.gz of its repository
 * folder served by a local HTTP server, fetched at start; a new archive with a new version serves
 * at the next poll with no failed request; a truncated archive never replaces the good files.
 * Traced, exported over OTLP/gRPC: each fetch is a span whose traceparent the store receives.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "igate.demo-models=false", "igate.repository-poll-interval=300ms", "spring.cloud.gateway.server.webflux.routes=",
        // known when the environment is prepared (igate's tracing defaults read it then): a system property's placeholder
        "management.opentelemetry.tracing.export.otlp.endpoint=${igate.test.storage-otlp-endpoint}",
        "management.opentelemetry.tracing.export.otlp.transport=grpc", "management.tracing.sampling.probability=1.0",
        "management.opentelemetry.tracing.export.schedule-delay=100ms"})
@AutoConfigureWebTestClient(timeout = "60s")
@DirtiesContext // its poller would go on asking a stopped HTTP server in every later test
class StorageUriIT {

    static final Path WORK = Path.of("target", "storage-uri").toAbsolutePath();
    static final AtomicReference<byte[]> archive = new AtomicReference<>();
    static HttpServer server;
    /** The traceparent header of each request the store got ("" without). */
    static final List<String> traceparents = new CopyOnWriteArrayList<>();
    static final OtlpReceiver RECEIVER;

    static {
        try {
            RECEIVER = OtlpReceiver.grpc();
            System.setProperty("igate.test.storage-otlp-endpoint", RECEIVER.endpoint());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @Autowired
    WebTestClient client;

    /** The model's folder (its versions) as a .tar.gz. */
    static byte[] tarGz(Path modelDir) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(new GZIPOutputStream(bytes));
             Stream<Path> walk = Files.walk(modelDir)) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            for (Path p : walk.filter(Files::isRegularFile).sorted().toList()) {
                TarArchiveEntry entry = new TarArchiveEntry(p.toFile(), modelDir.relativize(p).toString());
                tar.putArchiveEntry(entry);
                Files.copy(p, tar);
                tar.closeArchiveEntry();
            }
        }
        return bytes.toByteArray();
    }

    @DynamicPropertySource
    static void storage(DynamicPropertyRegistry registry) throws Exception {
        ServerTestSupport.deleteTree(WORK);
        TinyClassifier.write(WORK.resolve("source").resolve("1"), "Tanh", 1);
        archive.set(tarGz(WORK.resolve("source")));
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/models/remote.tar.gz", exchange -> {
            String traceparent = exchange.getRequestHeaders().getFirst("traceparent");
            traceparents.add(traceparent == null ? "" : traceparent);
            byte[] body = archive.get();
            exchange.getResponseHeaders().add("ETag", "\"" + java.util.Arrays.hashCode(body) + "\"");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        server.start();
        Files.createDirectories(WORK.resolve("repository"));
        registry.add("igate.model-repository", () -> WORK.resolve("repository").toString());
        registry.add("igate.storage-cache", () -> WORK.resolve("cache").toString());
        registry.add("igate.models.Remote.storage-uri", () -> "http://127.0.0.1:" + server.getAddress().getPort() + "/models/remote.tar.gz");
    }

    @AfterAll
    static void stop() {
        server.stop(0);
        RECEIVER.close();
    }

    @Test
    void eachFetchIsATraceExportedOverOtlpGrpcAndTheStoreGetsItsTraceparent() {
        ServerTestSupport.awaitReady(client, "/v2/models/Remote/ready");
        // the start-up fetch's (and the polls')
        String traceparent = await().atMost(Duration.ofSeconds(30)).until(
                () -> traceparents.stream().filter(t -> !t.isEmpty()).findFirst().orElse(null), t -> t != null);
        String[] parts = traceparent.split("-");
        assertThat(parts).hasSize(4);
        assertThat(parts[3]).isEqualTo("01");
        io.opentelemetry.proto.trace.v1.Span fetch = await().atMost(Duration.ofSeconds(30)).until(() -> RECEIVER.trace(parts[1]).stream()
                .filter(s -> s.getName().equals("igate.storage.fetch")).findFirst(), java.util.Optional::isPresent).orElseThrow();
        // the store's request came from the fetch's span, a client span that starts a trace of its own
        assertThat(OtlpReceiver.hex(fetch.getSpanId().toByteArray())).isEqualTo(parts[2]);
        assertThat(fetch.getKind()).isEqualTo(io.opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_CLIENT);
        assertThat(fetch.getParentSpanId().isEmpty()).isTrue();
        assertThat(OtlpReceiver.attribute(fetch, "igate.model")).isEqualTo("Remote");
        assertThat(OtlpReceiver.attribute(fetch, "url.full")).endsWith("/models/remote.tar.gz");
        assertThat(OtlpReceiver.attribute(fetch, "igate.storage.outcome")).isIn("fetched", "unchanged");
    }

    @Test
    void aModelFromAnArchiveUrlServesAndTakesNewVersionsButNotBrokenArchives() throws Exception {
        ServerTestSupport.awaitReady(client, "/v2/models/Remote/ready");
        List<String> versions = new CopyOnWriteArrayList<>();
        List<Integer> failures = new CopyOnWriteArrayList<>();
        AtomicBoolean running = new AtomicBoolean(true);
        Thread load = new Thread(() -> {
            while (running.get()) {
                var r = client.post().uri("/v1/models/Remote:predict").contentType(MediaType.APPLICATION_JSON)
                        .bodyValue("{\"instances\": [\"a short text\"]}").exchange().expectBody().returnResult();
                if (r.getStatus().value() == 200) {
                    versions.add(r.getResponseHeaders().getFirst("X-Model-Version"));
                } else {
                    failures.add(r.getStatus().value());
                }
            }
        });
        load.start();
        try {
            // a new version in the archive
            TinyClassifier.write(WORK.resolve("source").resolve("2"), "Sigmoid", 2);
            archive.set(tarGz(WORK.resolve("source")));
            await().atMost(Duration.ofSeconds(60)).until(() -> !versions.isEmpty() && "2".equals(versions.get(versions.size() - 1)));

            // a truncated archive: refused, version 2 keeps serving
            byte[] whole = tarGz(WORK.resolve("source"));
            archive.set(java.util.Arrays.copyOf(whole, whole.length / 3));
            // refused at a poll (counted), and the load goes on after it
            await().atMost(Duration.ofSeconds(30)).until(() -> ServerTestSupport.modelCounter(client, "igate_storage_fetch_failures_total", "Remote") > 0);
            int before = versions.size();
            await().atMost(Duration.ofSeconds(30)).until(() -> versions.size() > before + 100);
        } finally {
            running.set(false);
            load.join();
        }
        assertThat(failures).isEmpty();
        assertThat(versions.subList(versions.size() - 50, versions.size())).containsOnly("2");
    }
}
