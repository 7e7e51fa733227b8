package dev.igate.gateway;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * The record keys (request ids) seen on a topic so far, with how many times each was seen: repeats
 * are counted. Reads every partition by assignment, not in a consumer group, so no group
 * coordination (a join, a rebalance) can hold the reading back.
 */
final class KafkaKeys implements AutoCloseable {

    final Map<String, Integer> counts = new HashMap<>();
    private final KafkaConsumer<byte[], byte[]> consumer;

    KafkaKeys(String bootstrapServers, String topic) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrapServers);
        p.put("auto.offset.reset", "earliest");
        p.put("enable.auto.commit", "false");
        consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        List<TopicPartition> partitions = consumer.partitionsFor(topic, Duration.ofSeconds(30)).stream()
                .map(info -> new TopicPartition(topic, info.partition())).toList();
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
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
