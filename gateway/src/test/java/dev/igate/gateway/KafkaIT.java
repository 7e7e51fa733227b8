package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.kafka.test.EmbeddedKafkaKraftBroker;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Inference over Kafka against a real broker (Apache Kafka in KRaft mode, in the test JVM): V2 and
 * V1 requests answered on the output topic with the key, id and headers; records that cannot be
 * served dead-lettered with the error REST would answer, the consumer carrying on; offsets
 * committed once every answer was acknowledged.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {"igate.kafka.group-id=igate-test",
        // a small queue, so a burst fills it: over Kafka that pauses the consumer, it never dead-letters
        "igate.models.BERTSeqClassification.queue-capacity=4", "igate.kafka.max-in-flight=256",
        // payload logging to a topic of the same cluster
        "igate.models.BERTSeqClassification.logger.mode=all", "igate.models.BERTSeqClassification.logger.kafka-topic=igate-payloads",
        // canary weights on the model's V2 infer: a record without a version is routed by them, as a REST call is
        "spring.cloud.gateway.server.webflux.routes[0].id=kafka-stable",
        "spring.cloud.gateway.server.webflux.routes[0].uri=forward:/v2/models/BERTSeqClassification/versions/1/infer",
        "spring.cloud.gateway.server.webflux.routes[0].predicates[0]=Path=/v2/models/BERTSeqClassification/infer",
        "spring.cloud.gateway.server.webflux.routes[0].predicates[1]=Weight=kafka-infer, 50",
        "spring.cloud.gateway.server.webflux.routes[0].metadata.model=BERTSeqClassification",
        "spring.cloud.gateway.server.webflux.routes[0].metadata.version=1",
        "spring.cloud.gateway.server.webflux.routes[0].metadata.revision=stable",
        "spring.cloud.gateway.server.webflux.routes[1].id=kafka-canary",
        "spring.cloud.gateway.server.webflux.routes[1].uri=forward:/v2/models/BERTSeqClassification/versions/2/infer",
        "spring.cloud.gateway.server.webflux.routes[1].predicates[0]=Path=/v2/models/BERTSeqClassification/infer",
        "spring.cloud.gateway.server.webflux.routes[1].predicates[1]=Weight=kafka-infer, 50",
        "spring.cloud.gateway.server.webflux.routes[1].metadata.model=BERTSeqClassification",
        "spring.cloud.gateway.server.webflux.routes[1].metadata.version=2",
        "spring.cloud.gateway.server.webflux.routes[1].metadata.revision=canary",
        "spring.cloud.gateway.server.webflux.routes[1].metadata.auto-rollback=true"})
class KafkaIT extends ServerTestSupport {

    static final JsonMapper JSON = JsonMapper.builder().build();
    static EmbeddedKafkaKraftBroker broker;

    @DynamicPropertySource
    static void kafka(DynamicPropertyRegistry registry) {
        if (broker == null) {
            broker = new EmbeddedKafkaKraftBroker(1, 2, "igate-input", "igate-output", "igate-dead-letter", "igate-payloads");
            broker.afterPropertiesSet();
        }
        registry.add("igate.kafka.bootstrap-servers", broker::getBrokersAsString);
    }

    @AfterAll
    static void stopBroker() {
        // the server's consumer leaves the group when the context closes, after this; the broker goes with the JVM
    }

    static KafkaProducer<byte[], byte[]> producer() {
        Properties p = new Properties();
        p.put("bootstrap.servers", broker.getBrokersAsString());
        return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    }

    static KafkaConsumer<byte[], byte[]> reader(String topic) {
        Properties p = new Properties();
        p.put("bootstrap.servers", broker.getBrokersAsString());
        p.put("group.id", "reader-" + UUID.randomUUID());
        p.put("auto.offset.reset", "earliest");
        KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        c.subscribe(List.of(topic));
        return c;
    }

    static ProducerRecord<byte[], byte[]> record(String key, String body, String... headers) {
        ProducerRecord<byte[], byte[]> r = new ProducerRecord<>("igate-input", key.getBytes(StandardCharsets.UTF_8),
                body.getBytes(StandardCharsets.UTF_8));
        for (int i = 0; i < headers.length; i += 2) {
            r.headers().add(headers[i], headers[i + 1].getBytes(StandardCharsets.UTF_8));
        }
        return r;
    }

    static String header(ConsumerRecord<byte[], byte[]> r, String name) {
        Header h = r.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    /** The records of a topic whose key starts with {@code prefix}, once there are {@code count}. */
    static Map<String, ConsumerRecord<byte[], byte[]>> records(String topic, String prefix, int count) {
        Map<String, ConsumerRecord<byte[], byte[]>> out = new HashMap<>();
        try (KafkaConsumer<byte[], byte[]> c = reader(topic)) {
            await().atMost(Duration.ofSeconds(60)).until(() -> {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                    String key = new String(r.key(), StandardCharsets.UTF_8);
                    if (key.startsWith(prefix)) {
                        out.put(key, r);
                    }
                }
                return out.size() >= count;
            });
        }
        return out;
    }

    /**
     * The keys starting with {@code prefix} of every record a topic holds now: each partition read
     * from its beginning up to the end offset it had when asked, so that an empty answer means
     * there is none (a fresh group's subscription could read nothing before its partitions are
     * assigned).
     */
    static List<String> keysToTheEnd(String topic, String prefix) {
        Properties p = new Properties();
        p.put("bootstrap.servers", broker.getBrokersAsString());
        List<String> keys = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = new ArrayList<>();
            c.partitionsFor(topic).forEach(info -> partitions.add(new TopicPartition(topic, info.partition())));
            c.assign(partitions);
            c.seekToBeginning(partitions);
            Map<TopicPartition, Long> ends = c.endOffsets(partitions);
            await().atMost(Duration.ofSeconds(60)).until(() -> {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                    String key = r.key() == null ? "" : new String(r.key(), StandardCharsets.UTF_8);
                    if (key.startsWith(prefix)) {
                        keys.add(key);
                    }
                }
                return partitions.stream().allMatch(tp -> c.position(tp) >= ends.get(tp));
            });
        }
        return keys;
    }

    @Test
    void v2AndV1RequestsAreAnsweredOnTheOutputTopicWithKeyIdAndHeaders() throws Exception {
        String run = "ok-" + UUID.randomUUID() + "-";
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            for (int i = 0; i < 40; i++) {
                p.send(record(run + i, "{\"id\": \"request-" + i + "\", \"inputs\": [{\"name\": \"text\", \"shape\": [1], \"datatype\":"
                        + " \"BYTES\", \"data\": [\"" + SEED_TEXT + "\"]}]}", "igate-model", MODEL));
            }
            p.send(record(run + "v1", "{\"instances\": [\"" + SEED_TEXT + "\"]}", "igate-model", MODEL, "igate-protocol", "v1",
                    "igate-model-version", "2"));
            // CloudEvents per the Kafka binding: binary mode (ce_ headers) and structured mode
            String body = "{\"id\": \"ce-binary\", \"inputs\": [{\"name\": \"text\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\""
                    + SEED_TEXT + "\"]}]}";
            p.send(record(run + "ce-binary", body, "igate-model", MODEL, "ce_specversion", "1.0", "ce_id", "e1", "ce_source", "test",
                    "ce_type", "io.kserve.inference.request", "content-type", "application/json"));
            p.send(record(run + "ce-structured", "{\"specversion\": \"1.0\", \"id\": \"e2\", \"source\": \"test\", \"type\": \"t\", \"data\": "
                    + body.replace("ce-binary", "ce-structured") + "}", "igate-model", MODEL, "content-type", "application/cloudevents+json"));
        }

        Map<String, ConsumerRecord<byte[], byte[]>> answers = records("igate-output", run, 43);

        for (int i = 0; i < 40; i++) {
            ConsumerRecord<byte[], byte[]> a = answers.get(run + i);
            JsonNode body = JSON.readTree(a.value());
            assertThat(body.get("id").stringValue()).isEqualTo("request-" + i);
            assertThat(body.at("/outputs/0/data/0").stringValue()).isEqualTo("Pharma-Toxico");
            assertThat(header(a, "igate-model")).isEqualTo(MODEL);
            assertThat(header(a, "igate-model-version")).isIn("1", "2").isEqualTo(body.get("model_version").stringValue());
            assertThat(header(a, "igate-correlation-id")).isEqualTo("request-" + i);
        }
        ConsumerRecord<byte[], byte[]> v1 = answers.get(run + "v1");
        ConsumerRecord<byte[], byte[]> binary = answers.get(run + "ce-binary");
        ConsumerRecord<byte[], byte[]> structured = answers.get(run + "ce-structured");
        assertThat(JSON.readTree(binary.value()).get("id").stringValue()).isEqualTo("ce-binary");
        assertThat(JSON.readTree(structured.value()).get("id").stringValue()).isEqualTo("ce-structured");
        // a CloudEvent is answered as one (binary mode), naming the request's event
        assertThat(header(binary, "ce_type")).isEqualTo("io.kserve.inference.response");
        assertThat(header(binary, "ce_requestid")).isEqualTo("e1");
        assertThat(header(structured, "ce_requestid")).isEqualTo("e2");
        assertThat(header(answers.get(run + "0"), "ce_type")).isNull();
        assertThat(JSON.readTree(v1.value()).at("/predictions/0").stringValue()).isEqualTo("Pharma-Toxico");
        assertThat(header(v1, "igate-model-version")).isEqualTo("2");
        assertThat(header(v1, "igate-correlation-id")).isEqualTo(run + "v1");
    }

    @Test
    void recordsThatCannotBeServedAreDeadLetteredWithRestsErrorAndTheConsumerCarriesOn() throws Exception {
        String run = "bad-" + UUID.randomUUID() + "-";
        String valid = "{\"inputs\": [{\"name\": \"text\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"" + SEED_TEXT + "\"]}]}";
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            p.send(record(run + "not-json", "this is not JSON", "igate-model", MODEL));
            p.send(record(run + "unknown-model", valid, "igate-model", "NoSuchModel"));
            p.send(record(run + "no-model", valid));
            p.send(record(run + "bad-tensor", "{\"inputs\": [{\"name\": \"input_ids\", \"shape\": [1, 3], \"datatype\": \"INT64\","
                    + " \"data\": [1, 2]}]}", "igate-model", MODEL));
            p.send(record(run + "after", valid, "igate-model", MODEL));
        }

        Map<String, ConsumerRecord<byte[], byte[]>> dead = records("igate-dead-letter", run, 4);
        Map<String, ConsumerRecord<byte[], byte[]>> answered = records("igate-output", run, 1);

        assertThat(header(dead.get(run + "not-json"), "igate-error")).startsWith("Malformed JSON");
        assertThat(new String(dead.get(run + "not-json").value(), StandardCharsets.UTF_8)).isEqualTo("this is not JSON");
        assertThat(header(dead.get(run + "unknown-model"), "igate-error")).isEqualTo("Model NoSuchModel not found");
        assertThat(header(dead.get(run + "no-model"), "igate-error")).contains("igate-model");
        assertThat(header(dead.get(run + "bad-tensor"), "igate-error")).contains("input_ids");
        assertThat(answered).containsKey(run + "after");
    }

    @Test
    void payloadsAreLoggedToATopicAsCloudEventsOfTheKafkaBinding() {
        String id = "payload-" + UUID.randomUUID();
        client.post().uri("/v2/models/{m}/versions/1/infer", MODEL).contentType(org.springframework.http.MediaType.APPLICATION_JSON)
                .bodyValue("{\"id\": \"" + id + "\", \"inputs\": [{\"name\": \"text\", \"shape\": [1], \"datatype\": \"BYTES\","
                        + " \"data\": [\"" + SEED_TEXT + "\"]}]}").exchange().expectStatus().isOk();

        // the payload records' keys are the request id (ce_id)
        Map<String, ConsumerRecord<byte[], byte[]>> request = new HashMap<>();
        Map<String, ConsumerRecord<byte[], byte[]>> response = new HashMap<>();
        try (KafkaConsumer<byte[], byte[]> c = reader("igate-payloads")) {
            await().atMost(Duration.ofSeconds(60)).until(() -> {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                    if (id.equals(header(r, "ce_id"))) {
                        (header(r, "ce_type").endsWith(".request") ? request : response).put(id, r);
                    }
                }
                return request.containsKey(id) && response.containsKey(id);
            });
        }
        assertThat(header(request.get(id), "ce_type")).isEqualTo("org.kubeflow.serving.inference.request");
        assertThat(header(response.get(id), "ce_type")).isEqualTo("org.kubeflow.serving.inference.response");
        assertThat(header(request.get(id), "ce_inferenceservicename")).isEqualTo(MODEL);
        assertThat(header(response.get(id), "ce_modelversion")).isEqualTo("1");
        assertThat(new String(response.get(id).value(), StandardCharsets.UTF_8)).contains("Pharma-Toxico");
    }

    @Test
    void offsetsAreCommittedOnceEveryAnswerIsAcknowledged() throws Exception {
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            for (int i = 0; i < 10; i++) {
                p.send(record("commit-" + i, "{\"inputs\": [{\"name\": \"text\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\""
                        + SEED_TEXT + "\"]}]}", "igate-model", MODEL)).get();
            }
        }
        Properties a = new Properties();
        a.put("bootstrap.servers", broker.getBrokersAsString());
        try (Admin admin = Admin.create(a); KafkaConsumer<byte[], byte[]> c = reader("igate-input")) {
            List<TopicPartition> partitions = new ArrayList<>();
            c.partitionsFor("igate-input").forEach(info -> partitions.add(new TopicPartition("igate-input", info.partition())));
            Map<TopicPartition, Long> ends = c.endOffsets(partitions);
            await().atMost(Duration.ofSeconds(60)).until(() -> {
                Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets("igate-test")
                        .partitionsToOffsetAndMetadata().get();
                return partitions.stream().allMatch(tp -> committed.get(tp) != null && committed.get(tp).offset() >= ends.get(tp));
            });
        }
        String metrics = new String(client.get().uri("/actuator/prometheus").exchange().expectBody().returnResult().getResponseBody(),
                StandardCharsets.UTF_8);
        assertThat(metrics).containsPattern("igate_kafka_records_consumed_total\\{[^}]*\\} [1-9]")
                .containsPattern("igate_kafka_records_answered_total\\{[^}]*\\} [1-9]").contains("igate_kafka_consumer_lag");
    }

    double metric(String pattern) {
        String metrics = new String(client.get().uri("/actuator/prometheus").exchange().expectBody().returnResult().getResponseBody(),
                StandardCharsets.UTF_8);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile(pattern + " ([0-9.E]+)").matcher(metrics);
        double sum = 0;
        while (m.find()) {
            sum += Double.parseDouble(m.group(1));
        }
        return sum;
    }

    @org.springframework.beans.factory.annotation.Autowired
    dev.igate.gateway.routing.RevisionWeights weights;

    @Test
    void aBurstThatFillsTheModelsQueueIsAnsweredWholeAndCountedOncePerRecordAsRestCallsAre() throws Exception {
        // the data plane chooses the revision of a record that names no version, with the V2 infer routes' canary weights
        String revisions = "igate_revision_requests_seconds_count\\{[^}]*group=\"kafka-infer\"[^}]*\\}";
        String counted = "igate_requests_total\\{[^}]*endpoint=\"kafka_infer\"[^}]*outcome=\"success\"[^}]*\\}";
        String failed = "igate_requests_total\\{[^}]*endpoint=\"kafka_infer\"[^}]*outcome=\"server_error\"[^}]*\\}";
        String retried = "igate_kafka_records_retried_total\\{[^}]*\\}";
        double revisionsBefore = metric(revisions);
        double countedBefore = metric(counted);
        double failedBefore = metric(failed);
        double retriedBefore = metric(retried);
        // a burst past the queue (capacity 4, so 16 waiting per version; 256 records in flight), texts all different so the response cache answers none
        int burst = 300;
        String run = "burst-" + UUID.randomUUID() + "-";
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            for (int i = 0; i < burst; i++) {
                p.send(record(run + i, "{\"inputs\": [{\"name\": \"text\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"Burst "
                        + i + " of " + SEED_TEXT + "\"]}]}", "igate-model", MODEL));
            }
        }

        assertThat(records("igate-output", run, burst)).hasSize(burst);
        assertThat(keysToTheEnd("igate-dead-letter", run)).as("dead letters of the burst").isEmpty();
        await().atMost(Duration.ofSeconds(30)).until(() -> metric(revisions) >= revisionsBefore + burst && metric(counted) >= countedBefore + burst);
        // the queue did fill: the batcher refused, and the consumer kept those records and tried them again
        assertThat(metric("igate_requests_rejected_total\\{[^}]*model_name=\"BERTSeqClassification\"[^}]*\\}")).isPositive();
        assertThat(metric(retried)).as("attempts refused for a full queue").isGreaterThan(retriedBefore);
        // each record counted once, by the attempt that answered it: the refused attempts are neither requests nor revision errors
        assertThat(metric(counted)).isEqualTo(countedBefore + burst);
        assertThat(metric(failed)).isEqualTo(failedBefore);
        assertThat(metric(revisions)).isEqualTo(revisionsBefore + burst);
        // so the guarded canary, as healthy as the stable revision, keeps its weight through the burst
        assertThat(weights.effectiveWeights().get("kafka-infer")).containsEntry("kafka-canary", 50);
    }
}
