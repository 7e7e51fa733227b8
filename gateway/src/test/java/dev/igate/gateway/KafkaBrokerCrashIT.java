package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The Kafka broker dies under the server: a KRaft broker in a process of its own, SIGKILLed while
 * the server works through 5,000 records, then started again on the same data. No record is lost
 * or dead-lettered, the server keeps serving REST meanwhile, readiness is down (the {@code kafka}
 * health contributor says why) while the broker does not answer and up again once it does, and
 * consumption resumes by itself.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "igate.kafka.group-id=broker-crash", "igate.kafka.input-topic=bcrash-input", "igate.kafka.output-topic=bcrash-output",
        "igate.kafka.dead-letter-topic=bcrash-dead-letter"})
class KafkaBrokerCrashIT extends ServerTestSupport {

    static final int RECORDS = 5000;
    static final Path DIR = Path.of("target", "kafka-broker-crash").toAbsolutePath();
    static int port;
    static int controllerPort;
    static Process broker;

    static String bootstrap() {
        return "127.0.0.1:" + port;
    }

    /** The classpath of this test JVM (failsafe puts it in surefire.test.class.path): the broker's jars are on it. */
    static String classpath() {
        return System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    }

    static Process java(String main, String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of("java", "-Xmx384m", "-cp", classpath(), main));
        command.addAll(List.of(args));
        return new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(DIR.resolve("broker.log").toFile())).start();
    }

    /** Starts the broker on its ports and data folder (formatted on the first start), and waits until it answers. */
    static void startBroker() throws Exception {
        broker = java("kafka.Kafka", DIR.resolve("server.properties").toString());
        // an admin client made before the port listens rebootstraps in a tight loop: wait for the port first
        await().atMost(Duration.ofMinutes(2)).ignoreExceptions().until(() -> {
            try (java.net.Socket s = new java.net.Socket("127.0.0.1", port)) {
                return true;
            }
        });
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap());
        try (Admin admin = Admin.create(p)) {
            await().atMost(Duration.ofMinutes(2)).ignoreExceptions()
                    .until(() -> admin.describeCluster().nodes().get(5, java.util.concurrent.TimeUnit.SECONDS).size() == 1);
        }
    }

    @DynamicPropertySource
    static void kafka(DynamicPropertyRegistry registry) throws Exception {
        if (broker == null) {
            ServerTestSupport.deleteTree(DIR);
            Files.createDirectories(DIR);
            port = KafkaCrashIT.freePort();
            controllerPort = KafkaCrashIT.freePort();
            Files.writeString(DIR.resolve("server.properties"), String.join("\n",
                    "process.roles=broker,controller", "node.id=1", "controller.quorum.voters=1@127.0.0.1:" + controllerPort,
                    "listeners=PLAINTEXT://127.0.0.1:" + port + ",CONTROLLER://127.0.0.1:" + controllerPort,
                    "advertised.listeners=PLAINTEXT://127.0.0.1:" + port, "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT", "log.dirs=" + DIR.resolve("data"),
                    "offsets.topic.replication.factor=1", "offsets.topic.num.partitions=2", "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1", "group.initial.rebalance.delay.ms=0", "num.partitions=2", ""));
            Process format = java("kafka.tools.StorageTool", "format", "-t", Uuid.randomUuid().toString(), "-c",
                    DIR.resolve("server.properties").toString());
            assertThat(format.waitFor()).as("kafka-storage format (target/kafka-broker-crash/broker.log)").isZero();
            startBroker();
            Properties p = new Properties();
            p.put("bootstrap.servers", bootstrap());
            try (Admin admin = Admin.create(p)) {
                admin.createTopics(List.of(new NewTopic("bcrash-input", 2, (short) 1), new NewTopic("bcrash-output", 2, (short) 1),
                        new NewTopic("bcrash-dead-letter", 1, (short) 1))).all().get();
            }
        }
        registry.add("igate.kafka.bootstrap-servers", KafkaBrokerCrashIT::bootstrap);
    }

    @AfterAll
    static void stopBroker() throws InterruptedException {
        if (broker != null) {
            broker.destroyForcibly().waitFor();
        }
    }

    int status(String path) {
        return client.get().uri(path).exchange().expectBody().returnResult().getStatus().value();
    }

    @Test
    void aBrokerKilledMidStreamLosesNoRecordAndConsumptionResumesByItself() throws Exception {
        Properties pp = new Properties();
        pp.put("bootstrap.servers", bootstrap());
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(pp, new ByteArraySerializer(), new ByteArraySerializer())) {
            for (int i = 0; i < RECORDS; i++) {
                String id = "b-" + i;
                ProducerRecord<byte[], byte[]> r = new ProducerRecord<>("bcrash-input", id.getBytes(StandardCharsets.UTF_8),
                        ("{\"id\": \"" + id + "\", \"inputs\": [{\"name\": \"text\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"Record "
                                + i + " about risk assessment of oral bioavailability.\"]}]}").getBytes(StandardCharsets.UTF_8));
                r.headers().add("igate-model", MODEL.getBytes(StandardCharsets.UTF_8));
                producer.send(r);
            }
        }
        await().atMost(Duration.ofMinutes(1)).until(() -> status("/actuator/health/readiness") == 200);
        KafkaKeys answers = new KafkaKeys(bootstrap(), "bcrash-output");
        KafkaKeys dead = new KafkaKeys(bootstrap(), "bcrash-dead-letter");
        try {
            // killed while the server works through the stream
            await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(50)).until(() -> answers.poll() >= RECORDS / 4);
            broker.destroyForcibly().waitFor();
            int beforeKill = answers.counts.size();

            // the server notices, says so in readiness, and keeps serving REST
            await().atMost(Duration.ofSeconds(60)).until(() -> status("/actuator/health/readiness") == 503);
            String readiness = new String(client.get().uri("/actuator/health/readiness").exchange().returnResult(byte[].class)
                    .getResponseBodyContent(), StandardCharsets.UTF_8);
            assertThat(readiness).contains("does not answer");
            assertThat(status("/actuator/health/liveness")).isEqualTo(200);
            client.post().uri("/v1/models/{m}/versions/1:predict", MODEL).contentType(MediaType.APPLICATION_JSON)
                    .bodyValue("{\"instances\": [\"" + SEED_TEXT + "\"]}").exchange().expectStatus().isOk();

            // the broker comes back: consumption resumes by itself
            startBroker();
            await().atMost(Duration.ofMinutes(2)).until(() -> status("/actuator/health/readiness") == 200);
            await().atMost(Duration.ofMinutes(5)).pollInterval(Duration.ofMillis(100))
                    .until(() -> answers.poll() + dead.poll() >= RECORDS);
            answers.poll();
            dead.poll();

            List<String> missing = new ArrayList<>();
            for (int i = 0; i < RECORDS; i++) {
                if (!answers.counts.containsKey("b-" + i)) {
                    missing.add("b-" + i);
                }
            }
            long repeats = answers.counts.values().stream().mapToInt(c -> c - 1).sum();
            System.out.printf("Kafka broker crash: %d records, broker SIGKILLed after %d answers and restarted; %d answered, %d dead-lettered,"
                    + " %d repeated, %d missing%n", RECORDS, beforeKill, answers.counts.size(), dead.counts.size(), repeats, missing.size());
            assertThat(missing).isEmpty();
            assertThat(dead.counts).isEmpty();
        } finally {
            answers.close();
            dead.close();
        }
    }
}
