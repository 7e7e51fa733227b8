package dev.igate.benchmark;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.springframework.kafka.test.EmbeddedKafkaKraftBroker;

/**
 * Kafka inference end to end: a KRaft broker in this JVM (igate-input with 2 partitions,
 * igate-output, igate-dead-letter), whose address it writes for the server; once the server is
 * ready, a closed loop keeps {@code window} records in flight (a record produced for each answer
 * consumed from igate-output, matched by key), warms up, then counts answers per second over the
 * measured window; then it stops producing, drains, and counts what was lost (never answered) or
 * repeated (answered twice). It keeps the broker up until {@code <done file>} exists.
 *
 * <p>Usage: {@code KafkaLoad <bootstrap file> <done file> <ready url> <model> <body file> <window> <seconds> <warm-up seconds>}.
 * Prints a {@code KAFKA} line.
 */
public final class KafkaLoad {

    private KafkaLoad() {
    }

    public static void main(String[] args) throws Exception {
        Path bootstrapFile = Path.of(args[0]);
        Path doneFile = Path.of(args[1]);
        URI ready = URI.create(args[2]);
        String model = args[3];
        byte[] body = Files.readAllBytes(Path.of(args[4]));
        int window = Integer.parseInt(args[5]);
        int seconds = Integer.parseInt(args[6]);
        int warmUp = Integer.parseInt(args[7]);
        EmbeddedKafkaKraftBroker broker = new EmbeddedKafkaKraftBroker(1, 2, "igate-input", "igate-output", "igate-dead-letter");
        broker.afterPropertiesSet();
        Files.writeString(bootstrapFile, broker.getBrokersAsString());
        HttpClient probe = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        while (true) {
            try {
                if (probe.send(HttpRequest.newBuilder(ready).GET().build(), HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    break;
                }
            } catch (java.io.IOException e) {
                // not up yet
            }
            Thread.sleep(100);
        }
        Properties p = new Properties();
        p.put("bootstrap.servers", broker.getBrokersAsString());
        p.put("acks", "all");
        p.put("linger.ms", "1");
        Properties c = new Properties();
        c.put("bootstrap.servers", broker.getBrokersAsString());
        c.put("group.id", "kafka-load");
        c.put("auto.offset.reset", "earliest");
        Map<String, Integer> answers = new ConcurrentHashMap<>();
        AtomicLong answeredInWindow = new AtomicLong();
        AtomicLong deadLetters = new AtomicLong();
        AtomicBoolean measuring = new AtomicBoolean();
        AtomicBoolean stop = new AtomicBoolean();
        Semaphore inFlight = new Semaphore(window);
        Thread reader = new Thread(() -> {
            try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(c, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
                consumer.subscribe(List.of("igate-output", "igate-dead-letter"));
                while (!stop.get()) {
                    for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(50))) {
                        if (r.topic().equals("igate-dead-letter")) {
                            deadLetters.incrementAndGet();
                        }
                        String key = new String(r.key(), StandardCharsets.UTF_8);
                        if (answers.merge(key, 1, Integer::sum) == 1) {
                            inFlight.release();
                            if (measuring.get()) {
                                answeredInWindow.incrementAndGet();
                            }
                        }
                    }
                }
            }
        }, "kafka-load-reader");
        reader.start();
        long sent = 0;
        long measuredNanos;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            long warmEnd = System.nanoTime() + TimeUnit.SECONDS.toNanos(warmUp);
            long start = 0;
            long end = Long.MAX_VALUE;
            while (true) {
                long now = System.nanoTime();
                if (!measuring.get() && now >= warmEnd) {
                    measuring.set(true);
                    start = now;
                    end = now + TimeUnit.SECONDS.toNanos(seconds);
                }
                if (now >= end) {
                    break;
                }
                if (!inFlight.tryAcquire(50, TimeUnit.MILLISECONDS)) {
                    continue;
                }
                ProducerRecord<byte[], byte[]> record = new ProducerRecord<>("igate-input", ("r" + sent).getBytes(StandardCharsets.UTF_8), body);
                record.headers().add("igate-model", model.getBytes(StandardCharsets.UTF_8));
                producer.send(record);
                sent++;
            }
            measuring.set(false);
            measuredNanos = end - start;
        }
        long windowAnswers = answeredInWindow.get();
        // drain: every record answered once, or 60 s
        long drainEnd = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (answers.size() < sent && System.nanoTime() < drainEnd) {
            Thread.sleep(100);
        }
        Thread.sleep(2000);
        stop.set(true);
        reader.join();
        long repeated = answers.values().stream().mapToLong(n -> n - 1).sum();
        System.out.printf(Locale.ROOT, "KAFKA window=%d records_per_s=%.1f sent=%d answered=%d lost=%d repeated=%d dead_letters=%d%n",
                window, windowAnswers / (measuredNanos / 1e9), sent, answers.size(), sent - answers.size(), repeated, deadLetters.get());
        System.out.flush();
        while (!Files.exists(doneFile)) {
            Thread.sleep(200);
        }
        broker.destroy();
    }
}
