package dev.igate.gateway.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import com.sun.net.httpserver.HttpServer;
import dev.igate.gateway.IgateProperties;
import dev.igate.gateway.PayloadLoggerProperties;
import dev.igate.protocol.InferenceRequest;
import dev.igate.protocol.InferenceResponse;
import dev.igate.protocol.Tensor;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;

/** The payload logger against a real HTTP sink and a Kafka broker address where nothing answers. */
class PayloadLoggerTests {

    HttpServer sink;
    final AtomicInteger received = new AtomicInteger();
    final SimpleMeterRegistry meters = new SimpleMeterRegistry();
    PayloadLogger logger;

    @BeforeEach
    void startSink() throws Exception {
        sink = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        sink.createContext("/", exchange -> {
            exchange.getRequestBody().readAllBytes();
            received.incrementAndGet();
            exchange.sendResponseHeaders(200, -1);
            exchange.close();
        });
        sink.start();
    }

    @AfterEach
    void stop() {
        if (logger != null) {
            logger.close();
        }
        sink.stop(0);
    }

    static int closedPort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    static IgateProperties properties(Map<String, String> settings) {
        Map<String, String> all = new HashMap<>(settings);
        all.put("igate.demo-models", "false");
        return new Binder(new MapConfigurationPropertySource(all)).bindOrCreate(IgateProperties.PREFIX, Bindable.of(IgateProperties.class));
    }

    @Test
    void aBrokerThatDoesNotAnswerNeverHoldsTheHttpSinkAndTheBufferStaysWithinItsBytes() throws Exception {
        logger = new PayloadLogger(properties(Map.of("igate.kafka.bootstrap-servers", "127.0.0.1:" + closedPort(),
                "igate.logger-buffer-bytes", "256KB")), meters);
        PayloadLoggerProperties both = new PayloadLoggerProperties("all",
                URI.create("http://127.0.0.1:" + sink.getAddress().getPort() + "/events"), "payloads");
        String text = "x".repeat(10_000);
        InferenceRequest request = new InferenceRequest("id", "m", null, List.of(Tensor.ofStrings("text", new long[] {1}, text)),
                List.of(), Map.of());
        InferenceResponse response = new InferenceResponse("id", "m", "1", List.of(Tensor.ofStrings("predict", new long[] {1}, text)),
                Map.of());

        // a steady stream of payloads while the broker never answers (the producer waits for its metadata)
        long most = 0;
        for (int i = 0; i < 400 && received.get() < 60; i++) {
            logger.infer("m", "1", "infer", request, response, both);
            most = Math.max(most, logger.bufferedBytes());
            int before = received.get();
            await().atMost(Duration.ofSeconds(60)).until(() -> received.get() > before || logger.bufferedBytes() > 128 * 1024);
        }

        // the HTTP sink kept getting events: the worker never waited for Kafka
        assertThat(received.get()).isGreaterThanOrEqualTo(60);
        // and what waits for the broker stays within the bytes bound: the rest is dropped and counted
        assertThat(most).isLessThanOrEqualTo(256 * 1024);
        assertThat(meters.counter("igate.payload.log.dropped").count()).isPositive();
    }
}
