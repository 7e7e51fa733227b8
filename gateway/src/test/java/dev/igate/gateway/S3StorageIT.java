package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.stream.Stream;

import dev.igate.demo.TinyClassifier;
import org.gaul.s3proxy.AuthenticationType;
import org.gaul.s3proxy.S3Proxy;
import org.jclouds.ContextBuilder;
import org.jclouds.blobstore.BlobStoreContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.test.annotation.DirtiesContext;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * A model from {@code s3://} on an S3-compatible store in the test JVM (S3Proxy, filesystem
 * backend, signatures checked; the server finds it through {@code igate.s3.endpoint} and signs
 * with credentials from the AWS SDK's standard chain). Under concurrency-16 load: a version
 * uploaded to the bucket serves at a later poll with no failed request; a new version that does
 * not load never replaces it; objects whose bytes no longer match their ETags are refused; both
 * are counted and shown in health details.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "igate.demo-models=false", "igate.repository-poll-interval=300ms", "spring.cloud.gateway.server.webflux.routes=",
        "igate.models.Bucketed.version-policy=latest:1"})
@AutoConfigureWebTestClient(timeout = "60s")
@DirtiesContext // its poller would go on asking a stopped store in every later test
class S3StorageIT {

    static final Path WORK = Path.of("target", "s3-storage").toAbsolutePath();
    static final String PREFIX = "text/bucketed/";
    static S3Proxy proxy;
    static BlobStoreContext store;
    static URI endpoint;
    static S3Client bucket;

    @Autowired
    WebTestClient client;

    @DynamicPropertySource
    static void storage(DynamicPropertyRegistry registry) throws Exception {
        ServerTestSupport.deleteTree(WORK);
        Properties blobs = new Properties();
        blobs.setProperty("jclouds.filesystem.basedir", Files.createDirectories(WORK.resolve("blobs")).toString());
        store = ContextBuilder.newBuilder("filesystem").overrides(blobs).build(BlobStoreContext.class);
        startProxy(URI.create("http://127.0.0.1:0"));
        endpoint = URI.create("http://127.0.0.1:" + proxy.getPort());
        bucket = S3Client.builder().endpointOverride(endpoint).forcePathStyle(true).region(Region.US_EAST_1)
                .httpClientBuilder(UrlConnectionHttpClient.builder())
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create("igate-it", "igate-it-secret"))).build();
        bucket.createBucket(b -> b.bucket("models"));
        TinyClassifier.write(WORK.resolve("source").resolve("1"), "Tanh", 1);
        upload(PREFIX, "1");
        upload("text/rotten/", "1");
        Path stored = WORK.resolve("blobs").resolve("models").resolve("text/rotten/1/model.onnx");
        byte[] bytes = Files.readAllBytes(stored);
        bytes[bytes.length / 2] ^= 0x55;
        Files.write(stored, bytes);
        // the SDK's standard chain reads these as it reads AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
        System.setProperty("aws.accessKeyId", "igate-it");
        System.setProperty("aws.secretAccessKey", "igate-it-secret");
        registry.add("igate.model-repository", () -> WORK.resolve("repository").toString());
        registry.add("igate.storage-cache", () -> WORK.resolve("cache").toString());
        registry.add("igate.s3.endpoint", endpoint::toString);
        registry.add("igate.models.Bucketed.storage-uri", () -> "s3://models/" + PREFIX.substring(0, PREFIX.length() - 1));
        registry.add("igate.models.Rotten.storage-uri", () -> "s3://models/text/rotten");
    }

    /** Starts the S3 endpoint over the blobs (again, on its first port, after an outage). */
    static void startProxy(URI at) throws Exception {
        proxy = S3Proxy.builder().blobStore(store.getBlobStore()).endpoint(at)
                .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, "igate-it", "igate-it-secret").build();
        proxy.start();
        await().until(() -> "STARTED".equals(proxy.getState()));
    }

    @AfterAll
    static void stop() throws Exception {
        System.clearProperty("aws.accessKeyId");
        System.clearProperty("aws.secretAccessKey");
        bucket.close();
        proxy.stop();
    }

    /** Uploads a version folder of WORK/source, its model file last (as a careful user would; a half upload fails to load and is retried). */
    static void upload(String prefix, String version) throws Exception {
        Path dir = WORK.resolve("source").resolve(version);
        try (Stream<Path> files = Files.list(dir)) {
            for (Path p : files.sorted((a, b) -> Boolean.compare(a.endsWith("model.onnx"), b.endsWith("model.onnx"))).toList()) {
                bucket.putObject(o -> o.bucket("models").key(prefix + version + "/" + p.getFileName()), RequestBody.fromFile(p));
            }
        }
    }

    String healthDetails() {
        return client.get().uri("/actuator/health").exchange().expectBody(String.class).returnResult().getResponseBody();
    }

    @Test
    void aVersionUploadedToTheBucketServesWithoutAFailedRequestAndBrokenOnesNeverReplaceIt() throws Exception {
        ServerTestSupport.awaitReady(client, "/v2/models/Bucketed/ready");
        ServerTestSupport.Load load = ServerTestSupport.predictLoad(client, "Bucketed", 16);
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> load.versions().size() > 50);

            TinyClassifier.write(WORK.resolve("source").resolve("2"), "Sigmoid", 2);
            upload(PREFIX, "2");
            long uploaded = System.nanoTime();
            await().atMost(Duration.ofSeconds(60)).until(() -> "2".equals(load.versions().get(load.versions().size() - 1)));
            System.out.printf("S3StorageIT: version 2 served %.0f ms after its upload (poll interval 300 ms)%n",
                    (System.nanoTime() - uploaded) / 1e6);
            int afterSwitch = load.versions().size();

            // a version whose model does not load: tried, counted, shown, version 2 keeps serving
            double reloadFailures = ServerTestSupport.modelCounter(client, "igate_model_reload_failures_total", "Bucketed");
            Files.createDirectories(WORK.resolve("source").resolve("3"));
            Files.copy(WORK.resolve("source/2/tokenizer.json"), WORK.resolve("source/3/tokenizer.json"));
            Files.copy(WORK.resolve("source/2/config.json"), WORK.resolve("source/3/config.json"));
            Files.writeString(WORK.resolve("source/3/model.onnx"), "half a model");
            upload(PREFIX, "3");
            await().atMost(Duration.ofSeconds(30)).until(() ->
                    ServerTestSupport.modelCounter(client, "igate_model_reload_failures_total", "Bucketed") > reloadFailures);
            assertThat(healthDetails()).contains("Bucketed/reload").contains("version 3 FAILED: ONNX Runtime could not load model.onnx");

            // a model whose objects' bytes changed at rest under their ETags (before the server started):
            // refused, counted and shown, and no half of it in the repository
            assertThat(ServerTestSupport.modelCounter(client, "igate_storage_fetch_failures_total", "Rotten")).isPositive();
            assertThat(healthDetails()).contains("Rotten/storage").contains("s3://models/text/rotten/1/model.onnx does not match its ETag");
            client.get().uri("/v2/models/Rotten/ready").exchange().expectStatus().isBadRequest().expectBody()
                    .jsonPath("$.ready").isEqualTo(false);

            int before = load.versions().size();
            await().atMost(Duration.ofSeconds(30)).until(() -> load.versions().size() > Math.max(before, afterSwitch) + 200);
        } finally {
            load.running().set(false);
        }

        assertThat(load.failures()).as("requests that failed during the switches").isEmpty();
        // a copy: the load's threads may still add the answer they were waiting for
        List<String> versions = List.copyOf(load.versions());
        List<String> last = versions.subList(versions.size() - 100, versions.size());
        assertThat(last).containsOnly("2");
        assertThat(Files.readString(WORK.resolve("repository/Bucketed/3/model.onnx"))).isEqualTo("half a model");
        assertThat(WORK.resolve("repository/Rotten")).doesNotExist();
    }

    @Test
    void theStoreStoppingDuringPollsLeavesTheModelServingItsFilesAndTheNextPollRecovers() throws Exception {
        ServerTestSupport.awaitReady(client, "/v2/models/Bucketed/ready");
        ServerTestSupport.Load load = ServerTestSupport.predictLoad(client, "Bucketed", 4);
        Path model = WORK.resolve("repository").resolve("Bucketed");
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> load.versions().size() > 20);
            double failures = ServerTestSupport.modelCounter(client, "igate_storage_fetch_failures_total", "Bucketed");

            // the store stops answering: polls fail, are counted and shown; the model serves the files it has
            proxy.stop();
            await().atMost(Duration.ofSeconds(60)).until(() ->
                    ServerTestSupport.modelCounter(client, "igate_storage_fetch_failures_total", "Bucketed") > failures + 1);
            assertThat(healthDetails()).contains("Bucketed/storage");
            int during = load.versions().size();
            await().atMost(Duration.ofSeconds(30)).until(() -> load.versions().size() > during + 50);
            try (Stream<Path> versions = Files.list(model)) {
                for (Path v : versions.filter(Files::isDirectory).toList()) {
                    assertThat(v.resolve("model.onnx")).as("a whole version folder").isRegularFile();
                    assertThat(v.resolve("tokenizer.json")).isRegularFile();
                    assertThat(v.resolve("config.json")).isRegularFile();
                }
            }
            assertThat(model.resolveSibling(".Bucketed.fetching")).as("no half folder").doesNotExist();

            // it answers again: the next poll fetches, and the problem leaves health
            startProxy(endpoint);
            await().atMost(Duration.ofSeconds(60)).until(() -> !healthDetails().contains("Bucketed/storage"));
            int after = load.versions().size();
            await().atMost(Duration.ofSeconds(30)).until(() -> load.versions().size() > after + 20);
        } finally {
            load.running().set(false);
        }
        assertThat(load.failures()).as("requests that failed while the store was away").isEmpty();
    }
}
