package dev.igate.gateway.kafka;

import java.util.HashMap;
import java.util.Map;
import java.util.TreeSet;

import org.apache.kafka.common.TopicPartition;

/**
 * Which offsets of each partition may be committed: a record's offset counts as done only when
 * its answer or dead-letter record was acknowledged by the broker, and a partition commits up to
 * its oldest record still in progress, so a crash repeats records but never loses one (at least
 * once). Records finish out of order (different models, batches); this keeps the order.
 * Thread-safe: the consumer thread adds, the producer's callbacks finish.
 */
final class OffsetTracker {

    private final Map<TopicPartition, TreeSet<Long>> pending = new HashMap<>();
    private final Map<TopicPartition, Long> next = new HashMap<>();

    /** A record taken from the partition; it is in progress until {@link #done}. */
    synchronized void started(TopicPartition partition, long offset) {
        pending.computeIfAbsent(partition, p -> new TreeSet<>()).add(offset);
        next.merge(partition, offset + 1, Math::max);
    }

    synchronized void done(TopicPartition partition, long offset) {
        TreeSet<Long> set = pending.get(partition);
        if (set != null) {
            set.remove(offset);
        }
    }

    /** The offset each partition can commit now: its oldest record in progress, or past its last one. */
    synchronized Map<TopicPartition, Long> committable() {
        Map<TopicPartition, Long> out = new HashMap<>();
        for (Map.Entry<TopicPartition, Long> e : next.entrySet()) {
            TreeSet<Long> set = pending.get(e.getKey());
            out.put(e.getKey(), set == null || set.isEmpty() ? e.getValue() : set.first());
        }
        return out;
    }

    /** Records in progress over every partition. */
    synchronized int inProgress() {
        return pending.values().stream().mapToInt(TreeSet::size).sum();
    }

    /** Forgets partitions the consumer no longer owns (their records in progress may be served again elsewhere). */
    synchronized void revoked(java.util.Collection<TopicPartition> partitions) {
        partitions.forEach(p -> {
            pending.remove(p);
            next.remove(p);
        });
    }

    /** Forgets every partition: a failed consumer's partitions go to the group again. */
    synchronized void revokedAll() {
        pending.clear();
        next.clear();
    }
}
