package dev.igate.predictor.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.GZIPOutputStream;

import com.sun.net.httpserver.HttpServer;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.zip.ZipArchiveEntry;
import org.apache.commons.compress.archivers.zip.ZipArchiveOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Storage URIs against a real HTTP server: archives fetched, cached, reused and refused when unsafe. */
class ModelStorageTests {

    @TempDir
    Path dir;

    HttpServer server;
    final Map<String, byte[]> files = new ConcurrentHashMap<>();
    final AtomicInteger downloads = new AtomicInteger();
    /** Each request's traceparent header ("" without). */
    final java.util.Queue<String> traceparents = new java.util.concurrent.ConcurrentLinkedQueue<>();

    @BeforeEach
    void serve() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", exchange -> {
            String traceparent = exchange.getRequestHeaders().getFirst("traceparent");
            traceparents.add(traceparent == null ? "" : traceparent);
            byte[] body = files.get(exchange.getRequestURI().getPath());
            if (body == null) {
                exchange.sendResponseHeaders(404, -1);
            } else {
                String etag = "\"" + java.util.Arrays.hashCode(body) + "\"";
                if (etag.equals(exchange.getRequestHeaders().getFirst("If-None-Match"))) {
                    exchange.sendResponseHeaders(304, -1);
                } else {
                    downloads.incrementAndGet();
                    exchange.getResponseHeaders().add("ETag", etag);
                    exchange.sendResponseHeaders(200, body.length);
                    exchange.getResponseBody().write(body);
                }
            }
            exchange.close();
        });
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    URI url(String path) {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + path);
    }

    static byte[] tarGz(Map<String, String> entries, String link) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(new GZIPOutputStream(bytes))) {
            for (Map.Entry<String, String> e : entries.entrySet()) {
                byte[] data = e.getValue().getBytes(StandardCharsets.UTF_8);
                TarArchiveEntry entry = new TarArchiveEntry(e.getKey(), true);
                entry.setSize(data.length);
                tar.putArchiveEntry(entry);
                tar.write(data);
                tar.closeArchiveEntry();
            }
            if (link != null) {
                TarArchiveEntry entry = new TarArchiveEntry(link, TarArchiveEntry.LF_SYMLINK);
                entry.setLinkName("/etc/passwd");
                tar.putArchiveEntry(entry);
                tar.closeArchiveEntry();
            }
        }
        return bytes.toByteArray();
    }

    static byte[] zip(Map<String, String> entries) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipArchiveOutputStream zip = new ZipArchiveOutputStream(bytes)) {
            for (Map.Entry<String, String> e : entries.entrySet()) {
                zip.putArchiveEntry(new ZipArchiveEntry(e.getKey()));
                zip.write(e.getValue().getBytes(StandardCharsets.UTF_8));
                zip.closeArchiveEntry();
            }
        }
        return bytes.toByteArray();
    }

    static final Map<String, String> MODEL = Map.of("1/model.onnx", "model bytes", "1/config.json", "{}", "1/tokenizer.json", "{}");

    @Test
    void anArchiveIsUnpackedCachedAndReusedAfterARestartWithoutDownloadingAgain() throws Exception {
        files.put("/m.tar.gz", tarGz(MODEL, null));
        Path target = dir.resolve("repo").resolve("M");

        assertThat(new ModelStorage(dir.resolve("cache"), 1 << 20).fetch(url("/m.tar.gz"), target)).isEqualTo(ModelStorage.Outcome.UPDATED);
        assertThat(Files.readString(target.resolve("1").resolve("model.onnx"))).isEqualTo("model bytes");
        // a restart: a new instance on the same cache asks with the ETag and keeps its files
        assertThat(new ModelStorage(dir.resolve("cache"), 1 << 20).fetch(url("/m.tar.gz"), target)).isEqualTo(ModelStorage.Outcome.UNCHANGED);
        assertThat(downloads).hasValue(1);

        // a new version in the archive replaces the folder in one step
        files.put("/m.tar.gz", tarGz(Map.of("1/model.onnx", "model bytes", "2/model.onnx", "newer"), null));
        assertThat(new ModelStorage(dir.resolve("cache"), 1 << 20).fetch(url("/m.tar.gz"), target)).isEqualTo(ModelStorage.Outcome.UPDATED);
        assertThat(Files.readString(target.resolve("2").resolve("model.onnx"))).isEqualTo("newer");
    }

    @Test
    void theCallersHeadersGoWithTheDownload() throws Exception {
        files.put("/m.tar.gz", tarGz(MODEL, null));
        String traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        Path target = dir.resolve("repo").resolve("M");
        ModelStorage storage = new ModelStorage(dir.resolve("cache"), 1 << 20);
        storage.fetch(url("/m.tar.gz"), target, Map.of("traceparent", traceparent));
        // the conditional request of a later fetch too
        assertThat(storage.fetch(url("/m.tar.gz"), target, Map.of("traceparent", traceparent))).isEqualTo(ModelStorage.Outcome.UNCHANGED);
        assertThat(traceparents).containsExactly(traceparent, traceparent);
        storage.fetch(url("/m.tar.gz"), target);
        assertThat(traceparents).hasSize(3).last().isEqualTo("");
    }

    @Test
    void theSameBytesFromAServerWithoutEtagsAreNotUnpackedAgain() throws Exception {
        Path target = dir.resolve("repo").resolve("M");
        server.createContext("/no-etag.tar.gz", exchange -> {
            byte[] body = files.get("/m.tar.gz");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        files.put("/m.tar.gz", tarGz(MODEL, null));
        ModelStorage storage = new ModelStorage(dir.resolve("cache"), 1 << 20);

        assertThat(storage.fetch(url("/no-etag.tar.gz"), target)).isEqualTo(ModelStorage.Outcome.UPDATED);
        long modified = Files.getLastModifiedTime(target.resolve("1").resolve("model.onnx")).toMillis();
        assertThat(storage.fetch(url("/no-etag.tar.gz"), target)).isEqualTo(ModelStorage.Outcome.UNCHANGED);
        assertThat(Files.getLastModifiedTime(target.resolve("1").resolve("model.onnx")).toMillis()).isEqualTo(modified);
    }

    @Test
    void unsafeOrBrokenArchivesAreRefusedAndLeaveThePreviousFiles() throws Exception {
        Path target = dir.resolve("repo").resolve("M");
        files.put("/good.zip", zip(MODEL));
        new ModelStorage(dir.resolve("cache"), 1 << 20).fetch(url("/good.zip"), target);
        ModelStorage storage = new ModelStorage(dir.resolve("cache"), 1000);

        files.put("/slip.zip", zip(Map.of("../../escaped.txt", "x")));
        assertThatThrownBy(() -> storage.fetch(url("/slip.zip"), target)).hasMessageContaining("would land outside the model's folder");
        files.put("/absolute.tar.gz", tarGz(Map.of("/etc/cron.d/x", "x"), null));
        assertThatThrownBy(() -> storage.fetch(url("/absolute.tar.gz"), target)).hasMessageContaining("would land outside");
        files.put("/link.tar.gz", tarGz(Map.of("1/config.json", "{}"), "1/model.onnx"));
        assertThatThrownBy(() -> storage.fetch(url("/link.tar.gz"), target)).hasMessageContaining("is a link");
        files.put("/bomb.tar.gz", tarGz(Map.of("1/model.onnx", "0".repeat(5000)), null));
        assertThatThrownBy(() -> storage.fetch(url("/bomb.tar.gz"), target)).hasMessageContaining("more than 1000 bytes");
        byte[] whole = tarGz(MODEL, null);
        files.put("/truncated.tar.gz", java.util.Arrays.copyOf(whole, whole.length / 2));
        assertThatThrownBy(() -> storage.fetch(url("/truncated.tar.gz"), target)).hasMessageContaining("refused");
        assertThatThrownBy(() -> storage.fetch(url("/missing.tar.gz"), target)).hasMessageContaining("HTTP 404");
        assertThatThrownBy(() -> storage.fetch(URI.create("http://127.0.0.1:1/m.tar.gz"), target)).isInstanceOf(IOException.class);

        // the good files are still there, and nothing escaped
        assertThat(Files.readString(target.resolve("1").resolve("model.onnx"))).isEqualTo("model bytes");
        assertThat(dir.resolve("escaped.txt")).doesNotExist();
        assertThat(dir.resolve("repo").resolve("escaped.txt")).doesNotExist();
    }

    @Test
    void anArchiveOfTheModelsFolderItselfServesAsKserveUnpacksIt() throws Exception {
        // <model>/<version>/... at the top, as the repository lays it out: the same archive serves both loaders
        files.put("/named.tar.gz", tarGz(Map.of("BERTSeqClassification/1/model.onnx", "named", "BERTSeqClassification/1/config.json", "{}"), null));
        Path target = dir.resolve("repo").resolve("BERTSeqClassification");

        new ModelStorage(dir.resolve("cache"), 1 << 20).fetch(url("/named.tar.gz"), target);

        assertThat(Files.readString(target.resolve("1").resolve("model.onnx"))).isEqualTo("named");
    }

    @Test
    void aFileUriOrPathIsLinked() throws Exception {
        Path pvc = Files.createDirectories(dir.resolve("pvc").resolve("1"));
        Files.writeString(pvc.resolve("model.onnx"), "on the volume");
        Path target = dir.resolve("repo").resolve("M");

        assertThat(new ModelStorage(dir.resolve("cache"), 1000).fetch(dir.resolve("pvc").toUri(), target)).isEqualTo(ModelStorage.Outcome.UPDATED);
        assertThat(Files.readString(target.resolve("1").resolve("model.onnx"))).isEqualTo("on the volume");
        assertThat(new ModelStorage(dir.resolve("cache"), 1000).fetch(dir.resolve("pvc").toUri(), target)).isEqualTo(ModelStorage.Outcome.UNCHANGED);
    }

    @Test
    void aZipEntryThatIsASymbolicLinkIsRefused() throws Exception {
        // the link's mode is in the central directory only: a stream read of the local headers sees a plain file
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipArchiveOutputStream zip = new ZipArchiveOutputStream(bytes)) {
            zip.putArchiveEntry(new ZipArchiveEntry("1/config.json"));
            zip.write("{}".getBytes(StandardCharsets.UTF_8));
            zip.closeArchiveEntry();
            ZipArchiveEntry link = new ZipArchiveEntry("1/model.onnx");
            link.setUnixMode(0120777);
            zip.putArchiveEntry(link);
            zip.write("/etc/passwd".getBytes(StandardCharsets.UTF_8));
            zip.closeArchiveEntry();
        }
        files.put("/link.zip", bytes.toByteArray());
        Path target = dir.resolve("repo").resolve("M");

        assertThatThrownBy(() -> new ModelStorage(dir.resolve("cache"), 1 << 20).fetch(url("/link.zip"), target))
                .hasMessageContaining("entry 1/model.onnx is a link");
        assertThat(target).doesNotExist();
    }

    @Test
    void aDownloadLargerThanTheLimitIsRefusedBeforeItIsUnpackedOrKept() throws Exception {
        byte[] noise = new byte[50_000];
        new java.util.Random(7).nextBytes(noise);
        files.put("/big.tar.gz", noise);
        Path target = dir.resolve("repo").resolve("M");

        assertThatThrownBy(() -> new ModelStorage(dir.resolve("cache"), 10_000).fetch(url("/big.tar.gz"), target))
                .hasMessageContaining("holds more than 10000 bytes");
        try (var left = Files.list(dir.resolve("cache"))) {
            assertThat(left.toList()).as("nothing of the download is kept").isEmpty();
        }
    }

    @Test
    void concurrentFetchesOfOneModelNeverLeaveAHalfFolder() throws Exception {
        Path target = dir.resolve("repo").resolve("M");
        ModelStorage storage = new ModelStorage(dir.resolve("cache"), 1 << 20);
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(4);
        try {
            for (int round = 0; round < 20; round++) {
                // a new archive each round, fetched by four callers at once (the start-up load and polls)
                String marker = "model bytes " + round;
                files.put("/m.tar.gz", tarGz(Map.of("1/model.onnx", marker, "1/config.json", "{}", "1/tokenizer.json", "{}"), null));
                java.util.List<java.util.concurrent.Future<ModelStorage.Outcome>> fetches = new java.util.ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    fetches.add(pool.submit(() -> storage.fetch(url("/m.tar.gz"), target)));
                }
                for (var f : fetches) {
                    f.get(30, java.util.concurrent.TimeUnit.SECONDS);
                }
                assertThat(Files.readString(target.resolve("1").resolve("model.onnx"))).isEqualTo(marker);
                assertThat(target.resolve("1").resolve("tokenizer.json")).isRegularFile();
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aFailedFetchsReasonCarriesNoQueryString() {
        Path target = dir.resolve("repo").resolve("M");

        assertThatThrownBy(() -> new ModelStorage(dir.resolve("cache"), 1 << 20)
                .fetch(url("/missing.tar.gz?X-Amz-Signature=deadbeef"), target))
                .hasMessageContaining("/missing.tar.gz?***").hasMessageContaining("HTTP 404").hasMessageNotContaining("deadbeef");
        assertThat(ModelStorage.redact("s3://key:secret@bucket/prefix and http://h/p#frag")).isEqualTo("s3://***@bucket/prefix and http://h/p#***");
    }
}
