package dev.igate.gateway;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/** The record keys (request ids) seen on a topic so far, with how many times each was seen: repeats are counted. */
final class KafkaKeys implements AutoCloseable {

    final Map<String, Integer> counts = new HashMap<>();
    private final KafkaConsumer<byte[], byte[]> consumer;

    KafkaKeys(String bootstrapServers, String topic) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrapServers);
        p.put("group.id", "reader-" + UUID.randomUUID());
        p.put("auto.offset.reset", "earliest");
        consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        consumer.subscribe(List.of(topic));
    }

    /** Reads what arrived (up to 200 ms of waiting); the number of different keys seen so far. */
    int poll() {
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
            counts.merge(new String(r.key(), StandardCharsets.UTF_8), 1, Integer::sum);
        }
        return counts.size();
    }

    @Override
    public void close() {
        consumer.close();
    }
}
