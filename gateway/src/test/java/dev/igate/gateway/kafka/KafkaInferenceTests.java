package dev.igate.gateway.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.ServerSocket;
import java.time.Duration;
import java.util.Map;

import dev.igate.gateway.KafkaSettings;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

/** The consumer thread's own faults, with no broker: it is made again, says why, and stops when asked. */
class KafkaInferenceTests {

    static int closedPort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Test
    void aConsumerThatFailsIsMadeAgainWithAPauseAndHealthSaysWhy() throws Exception {
        // a consumer setting the client refuses: making the consumer throws, as a failing poll would
        KafkaSettings settings = new KafkaSettings("127.0.0.1:" + closedPort(), null, null, null, "faults", 8,
                Map.of("session.timeout.ms", "not a number"));
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        KafkaInference kafka = new KafkaInference(settings, 1 << 20, null, meters);
        kafka.start();
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> meters.counter("igate.kafka.consumer.restarts").count() >= 2);
            assertThat(kafka.isRunning()).isTrue();
            assertThat(kafka.failure()).contains("the Kafka consumer failed").contains("session.timeout.ms");
        } finally {
            kafka.stop();
        }
        assertThat(kafka.isRunning()).isFalse();
        assertThat(kafka.failure()).isEqualTo("stopped");
    }
}
