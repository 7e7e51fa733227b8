package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import dev.igate.demo.TinyClassifier;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.http.MediaType;
import org.springframework.kafka.test.EmbeddedKafkaKraftBroker;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A model reloaded with new files under the same version number (retrained weights under "1", as
 * KServe archives ship them) while 16 REST clients and a Kafka stream use it, with the response
 * cache on: no REST request fails, no record is dead-lettered, and every answer to a request
 * made after the reload returned, cache hits included, comes from the new weights.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "igate.demo-models=false", "igate.admin-token=reload-token", "spring.cloud.gateway.server.webflux.routes=",
        "igate.models.Retrained.response-cache=true", "igate.kafka.group-id=reload-under-load",
        "igate.kafka.input-topic=reload-input", "igate.kafka.output-topic=reload-output", "igate.kafka.dead-letter-topic=reload-dead-letter"})
@AutoConfigureWebTestClient(timeout = "60s")
class ReloadUnderLoadIT {

    static final Path REPOSITORY = Path.of("target", "test-models-reload-load").toAbsolutePath();
    static final JsonMapper JSON = JsonMapper.builder().build();
    static final List<String> TEXTS = List.of("a short text about toxicology", "habitat loss drives amphibian decline",
            "transistors on a chip", "tumour growth in mice");
    static EmbeddedKafkaKraftBroker broker;

    @Autowired
    WebTestClient client;

    @DynamicPropertySource
    static void repository(DynamicPropertyRegistry registry) throws Exception {
        ServerTestSupport.deleteTree(REPOSITORY);
        TinyClassifier.write(REPOSITORY.resolve("Retrained").resolve("1"), "Tanh", 1);
        // the new weights, served under another name as the reference of what the reload must answer
        TinyClassifier.write(REPOSITORY.resolve("NewWeights").resolve("1"), "Tanh", 2);
        registry.add("igate.model-repository", REPOSITORY::toString);
        if (broker == null) {
            broker = new EmbeddedKafkaKraftBroker(1, 2, "reload-input", "reload-output", "reload-dead-letter");
            broker.afterPropertiesSet();
        }
        registry.add("igate.kafka.bootstrap-servers", broker::getBrokersAsString);
    }

    static String body(String text) {
        return "{\"inputs\": [{\"name\": \"text\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"" + text
                + "\"]}], \"outputs\": [{\"name\": \"logits\"}]}";
    }

    static float[] logits(byte[] answer) {
        JsonNode data = JSON.readTree(answer).at("/outputs/0/data");
        float[] out = new float[data.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = data.get(i).floatValue();
        }
        return out;
    }

    float[] logitsOf(String model, String text) {
        return logits(client.post().uri("/v2/models/{m}/infer", model).contentType(MediaType.APPLICATION_JSON).bodyValue(body(text))
                .exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody());
    }

    static boolean close(float[] a, float[] b) {
        if (a.length != b.length) {
            return false;
        }
        for (int i = 0; i < a.length; i++) {
            if (Math.abs(a[i] - b[i]) > 1e-4) {
                return false;
            }
        }
        return true;
    }

    /** One REST answer: which text, when the request started, its status and logits. */
    record Answer(int text, long startedNanos, int status, float[] logits) {
    }

    @Test
    void aReloadUnderRestAndKafkaLoadFailsNothingAndEveryLaterAnswerIsTheNewWeights() throws Exception {
        ServerTestSupport.awaitReady(client, "/v2/models/Retrained/ready");
        ServerTestSupport.awaitReady(client, "/v2/models/NewWeights/ready");
        List<float[]> before = TEXTS.stream().map(t -> logitsOf("Retrained", t)).toList();
        List<float[]> after = TEXTS.stream().map(t -> logitsOf("NewWeights", t)).toList();
        for (int i = 0; i < TEXTS.size(); i++) {
            assertThat(close(before.get(i), after.get(i))).as("the two weights answer differently").isFalse();
        }

        // 16 REST clients, the same four texts over and over (so most answers are cache hits)
        AtomicBoolean running = new AtomicBoolean(true);
        List<Answer> answers = new CopyOnWriteArrayList<>();
        List<Thread> clients = new ArrayList<>();
        for (int c = 0; c < 16; c++) {
            int first = c;
            Thread t = new Thread(() -> {
                for (int n = first; running.get(); n++) {
                    int text = n % TEXTS.size();
                    long started = System.nanoTime();
                    var r = client.post().uri("/v2/models/Retrained/infer").contentType(MediaType.APPLICATION_JSON)
                            .bodyValue(body(TEXTS.get(text))).exchange().expectBody().returnResult();
                    answers.add(new Answer(text, started, r.getStatus().value(), r.getStatus().value() == 200 ? logits(r.getResponseBody()) : null));
                }
            }, "reload-client-" + c);
            t.setDaemon(true);
            t.start();
            clients.add(t);
        }
        // and a Kafka stream: one record every 2 ms, each sent time kept by its key
        Map<String, Long> sent = new ConcurrentHashMap<>();
        AtomicInteger produced = new AtomicInteger();
        Properties pp = new Properties();
        pp.put("bootstrap.servers", broker.getBrokersAsString());
        Thread stream = new Thread(() -> {
            try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(pp, new ByteArraySerializer(), new ByteArraySerializer())) {
                for (int i = 0; running.get(); i++) {
                    String key = "k-" + i + "-" + (i % TEXTS.size());
                    ProducerRecord<byte[], byte[]> r = new ProducerRecord<>("reload-input", key.getBytes(StandardCharsets.UTF_8),
                            body(TEXTS.get(i % TEXTS.size())).getBytes(StandardCharsets.UTF_8));
                    r.headers().add("igate-model", "Retrained".getBytes(StandardCharsets.UTF_8));
                    sent.put(key, System.nanoTime());
                    producer.send(r);
                    produced.incrementAndGet();
                    java.util.concurrent.locks.LockSupport.parkNanos(2_000_000);
                }
            }
        }, "reload-stream");
        stream.setDaemon(true);
        stream.start();

        long reloaded;
        try {
            await().atMost(Duration.ofSeconds(60)).until(() -> answers.size() >= 300 && produced.get() >= 200);

            // new files under the same version number, then the reload
            Path incoming = REPOSITORY.resolve("Retrained").resolve("1").resolve("model.onnx.incoming");
            Files.copy(REPOSITORY.resolve("NewWeights").resolve("1").resolve("model.onnx"), incoming);
            Files.move(incoming, REPOSITORY.resolve("Retrained").resolve("1").resolve("model.onnx"), StandardCopyOption.REPLACE_EXISTING,
                    StandardCopyOption.ATOMIC_MOVE);
            client.post().uri("/admin/models/Retrained/load").header("Authorization", "Bearer reload-token").exchange()
                    .expectStatus().isOk();
            reloaded = System.nanoTime();

            int atReload = answers.size();
            int producedAtReload = produced.get();
            await().atMost(Duration.ofSeconds(60)).until(() -> answers.size() >= atReload + 300 && produced.get() >= producedAtReload + 200);
        } finally {
            running.set(false);
            for (Thread t : clients) {
                t.join(Duration.ofSeconds(30).toMillis());
            }
            stream.join(Duration.ofSeconds(30).toMillis());
        }

        // REST: nothing failed, and whatever was asked after the reload returned is the new weights
        assertThat(answers).allSatisfy(a -> assertThat(a.status()).as("status").isEqualTo(200));
        List<Answer> later = answers.stream().filter(a -> a.startedNanos() - reloaded > 0).toList();
        assertThat(later).hasSizeGreaterThanOrEqualTo(300)
                .allSatisfy(a -> assertThat(close(a.logits(), after.get(a.text()))).as("a later answer from the new weights").isTrue());

        // Kafka: every record answered, none dead-lettered, the ones sent after the reload by the new weights
        Map<String, byte[]> kafkaAnswers = readToEnd("reload-output", produced.get());
        assertThat(kafkaAnswers).hasSize(produced.get());
        assertThat(readToEnd("reload-dead-letter", 0)).isEmpty();
        long laterRecords = 0;
        for (Map.Entry<String, byte[]> e : kafkaAnswers.entrySet()) {
            if (sent.get(e.getKey()) - reloaded > 0) {
                laterRecords++;
                int text = Integer.parseInt(e.getKey().substring(e.getKey().lastIndexOf('-') + 1));
                assertThat(close(logits(e.getValue()), after.get(text))).as("record %s from the new weights", e.getKey()).isTrue();
            }
        }
        System.out.printf("Reload under load: %d REST answers (%d after the reload), %d Kafka records (%d sent after it), 0 failed,"
                + " 0 dead-lettered%n", answers.size(), later.size(), produced.get(), laterRecords);
        assertThat(laterRecords).isPositive();
    }

    /** Every record of a topic by key, read from the beginning to the end offsets, once at least {@code expected} are there. */
    static Map<String, byte[]> readToEnd(String topic, int expected) {
        Properties p = new Properties();
        p.put("bootstrap.servers", broker.getBrokersAsString());
        Map<String, byte[]> out = new ConcurrentHashMap<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = new ArrayList<>();
            c.partitionsFor(topic).forEach(info -> partitions.add(new TopicPartition(topic, info.partition())));
            c.assign(partitions);
            c.seekToBeginning(partitions);
            await().atMost(Duration.ofSeconds(120)).until(() -> {
                Map<TopicPartition, Long> ends = c.endOffsets(partitions);
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                    out.put(new String(r.key(), StandardCharsets.UTF_8), r.value());
                }
                return out.size() >= expected && partitions.stream().allMatch(tp -> c.position(tp) >= ends.get(tp));
            });
        }
        return out;
    }
}
