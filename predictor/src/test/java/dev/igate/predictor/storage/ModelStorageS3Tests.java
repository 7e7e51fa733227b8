package dev.igate.predictor.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;

import org.gaul.s3proxy.AuthenticationType;
import org.gaul.s3proxy.S3Proxy;
import org.jclouds.ContextBuilder;
import org.jclouds.blobstore.BlobStoreContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * s3:// storage URIs against a real S3-compatible store in this JVM (S3Proxy on its filesystem
 * backend, with AWS signatures checked): the credentials come from the SDK's standard chain (here
 * its system properties), the endpoint and path-style addressing from the settings.
 */
class ModelStorageS3Tests {

    static final String ACCESS_KEY = "igate-test-access";
    static final String SECRET_KEY = "igate-test-secret";

    @TempDir
    static Path blobs;

    static S3Proxy proxy;
    static S3Client bucket;
    static URI endpoint;

    @TempDir
    Path dir;

    @BeforeAll
    static void startStore() throws Exception {
        Properties properties = new Properties();
        properties.setProperty("jclouds.filesystem.basedir", blobs.toString());
        BlobStoreContext context = ContextBuilder.newBuilder("filesystem").overrides(properties).build(BlobStoreContext.class);
        proxy = S3Proxy.builder().blobStore(context.getBlobStore()).endpoint(URI.create("http://127.0.0.1:0"))
                .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, ACCESS_KEY, SECRET_KEY).build();
        proxy.start();
        await().until(() -> "STARTED".equals(proxy.getState()));
        endpoint = URI.create("http://127.0.0.1:" + proxy.getPort());
        bucket = S3Client.builder().endpointOverride(endpoint).forcePathStyle(true).region(Region.US_EAST_1)
                .httpClientBuilder(UrlConnectionHttpClient.builder())
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(ACCESS_KEY, SECRET_KEY))).build();
        // the standard credential chain reads these (as it reads AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)
        System.setProperty("aws.accessKeyId", ACCESS_KEY);
        System.setProperty("aws.secretAccessKey", SECRET_KEY);
    }

    @AfterAll
    static void stopStore() throws Exception {
        System.clearProperty("aws.accessKeyId");
        System.clearProperty("aws.secretAccessKey");
        bucket.close();
        proxy.stop();
    }

    static final java.util.concurrent.atomic.AtomicInteger buckets = new java.util.concurrent.atomic.AtomicInteger();

    /** This test's bucket (a new one per test: deleting blobs on S3Proxy's filesystem backend is slow). */
    String models;

    @BeforeEach
    void newBucket() {
        models = "models" + buckets.incrementAndGet();
        bucket.createBucket(b -> b.bucket(models));
    }

    void put(String key, String content) {
        bucket.putObject(p -> p.bucket(models).key(key), RequestBody.fromString(content, StandardCharsets.UTF_8));
    }

    URI s3(String path) {
        return URI.create("s3://" + models + "/" + path);
    }

    ModelStorage storage() {
        return new ModelStorage(dir.resolve("cache"), 1 << 20, new ModelStorage.S3Settings(endpoint, null, false));
    }

    @Test
    void aPrefixOfVersionFoldersIsMirroredAndReusedAfterARestartWithoutDownloadingAgain() throws Exception {
        put("text/sentiment/1/model.onnx", "model bytes");
        put("text/sentiment/1/config.json", "{}");
        put("text/sentiment/1/tokenizer.json", "{\"v\": 1}");
        put("text/other/1/model.onnx", "another model");
        Path target = dir.resolve("repo").resolve("sentiment");
        URI uri = s3("text/sentiment");

        try (ModelStorage storage = storage()) {
            assertThat(storage.fetch(uri, target)).isEqualTo(ModelStorage.Outcome.UPDATED);
            assertThat(storage.downloadedBytes()).isEqualTo("model bytes{}{\"v\": 1}".length());
        }
        assertThat(Files.readString(target.resolve("1").resolve("model.onnx"))).isEqualTo("model bytes");
        assertThat(target.resolve("1").resolve("other")).doesNotExist();

        // a restart on the same cache: a listing, no download
        try (ModelStorage storage = storage()) {
            assertThat(storage.fetch(uri, target)).isEqualTo(ModelStorage.Outcome.UNCHANGED);
            assertThat(storage.downloadedBytes()).isZero();
        }
        // a restart with an empty repository (a new pod on the same cache volume): built from the cache
        Path fresh = dir.resolve("fresh").resolve("sentiment");
        try (ModelStorage storage = storage()) {
            assertThat(storage.fetch(uri, fresh)).isEqualTo(ModelStorage.Outcome.UPDATED);
            assertThat(storage.downloadedBytes()).isZero();
        }
        assertThat(Files.readString(fresh.resolve("1").resolve("tokenizer.json"))).isEqualTo("{\"v\": 1}");

        // a new version: only its objects are downloaded; a removed one leaves the folder
        put("text/sentiment/2/model.onnx", "newer");
        bucket.deleteObject(d -> d.bucket(models).key("text/sentiment/1/config.json"));
        try (ModelStorage storage = storage()) {
            assertThat(storage.fetch(uri, target)).isEqualTo(ModelStorage.Outcome.UPDATED);
            assertThat(storage.downloadedBytes()).isEqualTo("newer".length());
        }
        assertThat(Files.readString(target.resolve("2").resolve("model.onnx"))).isEqualTo("newer");
        assertThat(target.resolve("1").resolve("config.json")).doesNotExist();
    }

    @Test
    void anArchiveObjectIsFetchedWithItsEtagAndNotAgainWhenUnchanged() throws Exception {
        bucket.putObject(p -> p.bucket(models).key("archives/m.tar.gz"),
                RequestBody.fromBytes(ModelStorageTests.tarGz(Map.of("1/model.onnx", "packed"), null)));
        Path target = dir.resolve("repo").resolve("M");
        URI uri = s3("archives/m.tar.gz");

        try (ModelStorage storage = storage()) {
            assertThat(storage.fetch(uri, target)).isEqualTo(ModelStorage.Outcome.UPDATED);
            long first = storage.downloadedBytes();
            assertThat(first).isPositive();
            assertThat(storage.fetch(uri, target)).isEqualTo(ModelStorage.Outcome.UNCHANGED);
            assertThat(storage.downloadedBytes()).isEqualTo(first);
        }
        assertThat(Files.readString(target.resolve("1").resolve("model.onnx"))).isEqualTo("packed");
    }

    @Test
    void badPrefixesKeysAndStoresAreRefusedWithTheirReasonAndLeaveThePreviousFiles() throws Exception {
        put("good/1/model.onnx", "model bytes");
        Path target = dir.resolve("repo").resolve("M");
        try (ModelStorage storage = storage()) {
            storage.fetch(s3("good"), target);

            assertThatThrownBy(() -> storage.fetch(s3("missing"), target)).hasMessageContaining("no objects under " + s3("missing"));
            assertThatThrownBy(() -> storage.fetch(URI.create("s3://no-such-bucket/m"), target)).hasMessageContaining("NoSuchBucket");
            assertThatThrownBy(() -> storage.fetch(s3("archives/none.tar.gz"), target)).hasMessageContaining("NoSuchKey");
            put("big/1/model.onnx", "0".repeat(2 << 20));
            assertThatThrownBy(() -> storage.fetch(s3("big"), target)).hasMessageContaining("more than 1048576 bytes");
            // bytes that changed at rest under their ETag (the store's file rewritten, same length)
            put("corrupt/1/model.onnx", "model bytes");
            Files.writeString(blobs.resolve(models).resolve("corrupt/1/model.onnx"), "MODEL BYTES");
            assertThatThrownBy(() -> storage.fetch(s3("corrupt"), target)).hasMessageContaining("does not match its ETag");
            bucket.putObject(p -> p.bucket(models).key("broken.tar.gz"), RequestBody.fromString("not gzip"));
            assertThatThrownBy(() -> storage.fetch(s3("broken.tar.gz"), target)).hasMessageContaining("refused");
        }
        try (ModelStorage unreachable = new ModelStorage(dir.resolve("cache"), 1 << 20,
                new ModelStorage.S3Settings(URI.create("http://127.0.0.1:1"), "eu-west-1", true))) {
            assertThatThrownBy(() -> unreachable.fetch(s3("good"), target)).isInstanceOf(IOException.class)
                    .hasMessageContaining("listing " + s3("good/") + " failed");
        }
        System.setProperty("aws.secretAccessKey", "wrong");
        try (ModelStorage wrongKey = storage()) {
            assertThatThrownBy(() -> wrongKey.fetch(s3("good"), dir.resolve("repo").resolve("N")))
                    .hasMessageContaining("HTTP 403");
        } finally {
            System.setProperty("aws.secretAccessKey", SECRET_KEY);
        }
        assertThat(Files.readString(target.resolve("1").resolve("model.onnx"))).isEqualTo("model bytes");
    }

    /**
     * The store behind a relay that passes every byte on as it is (AWS signatures stay valid) and
     * keeps what the client sent: each S3 call, the listing and every object's download, carries
     * the caller's headers.
     */
    @Test
    void theCallersHeadersGoWithEveryS3Call() throws Exception {
        put("traced/1/model.onnx", "model bytes");
        put("traced/1/config.json", "{}");
        String traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        try (java.net.ServerSocket relay = new java.net.ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
            java.io.ByteArrayOutputStream sent = new java.io.ByteArrayOutputStream();
            Thread accept = new Thread(() -> relay(relay, sent), "s3-relay");
            accept.setDaemon(true);
            accept.start();
            URI relayed = URI.create("http://127.0.0.1:" + relay.getLocalPort());
            try (ModelStorage storage = new ModelStorage(dir.resolve("cache"), 1 << 20, new ModelStorage.S3Settings(relayed, null, false))) {
                storage.fetch(s3("traced"), dir.resolve("repo").resolve("T"), Map.of("traceparent", traceparent));
            }
            assertThat(Files.readString(dir.resolve("repo").resolve("T").resolve("1").resolve("model.onnx"))).isEqualTo("model bytes");
            String requests;
            synchronized (sent) {
                requests = sent.toString(StandardCharsets.ISO_8859_1);
            }
            long calls = requests.lines().filter(l -> l.startsWith("GET /")).count();
            long traced = requests.lines().filter(l -> l.equalsIgnoreCase("traceparent: " + traceparent)).count();
            // a listing and two downloads
            assertThat(calls).isEqualTo(3);
            assertThat(traced).isEqualTo(calls);
        }
    }

    /** Accepts connections and pipes each to the store both ways, copying what clients send into {@code sent}. */
    static void relay(java.net.ServerSocket relay, java.io.ByteArrayOutputStream sent) {
        while (!relay.isClosed()) {
            try {
                java.net.Socket client = relay.accept();
                java.net.Socket store = new java.net.Socket("127.0.0.1", endpoint.getPort());
                pipe(client.getInputStream(), store.getOutputStream(), sent);
                pipe(store.getInputStream(), client.getOutputStream(), null);
            } catch (IOException e) {
                return;
            }
        }
    }

    static void pipe(java.io.InputStream in, java.io.OutputStream out, java.io.ByteArrayOutputStream copy) {
        Thread t = new Thread(() -> {
            byte[] buffer = new byte[8192];
            try (in; out) {
                for (int n; (n = in.read(buffer)) > 0; ) {
                    if (copy != null) {
                        synchronized (copy) {
                            copy.write(buffer, 0, n);
                        }
                    }
                    out.write(buffer, 0, n);
                    out.flush();
                }
            } catch (IOException e) {
                // the other side closed
            }
        }, "s3-relay-pipe");
        t.setDaemon(true);
        t.start();
    }

    @Test
    void anEndpointSettingReadsAsKserveWritesIt() {
        assertThat(ModelStorage.S3Settings.endpoint("minio.minio:9000", false)).isEqualTo(URI.create("http://minio.minio:9000"));
        assertThat(ModelStorage.S3Settings.endpoint("s3.example.com", true)).isEqualTo(URI.create("https://s3.example.com"));
        assertThat(ModelStorage.S3Settings.endpoint("http://127.0.0.1:9000", true)).isEqualTo(URI.create("http://127.0.0.1:9000"));
        assertThat(ModelStorage.S3Settings.endpoint(" ", true)).isNull();
    }
}
