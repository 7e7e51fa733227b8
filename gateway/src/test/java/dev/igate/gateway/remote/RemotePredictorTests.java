package dev.igate.gateway.remote;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import com.sun.net.httpserver.HttpServer;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.ModelNotReadyException;
import dev.igate.protocol.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The remote predictor's circuit breaker against a real HTTP server that fails, then recovers. */
class RemotePredictorTests {

    HttpServer server;
    final AtomicInteger calls = new AtomicInteger();
    final AtomicBoolean healthy = new AtomicBoolean();
    volatile int failStatus = 500;

    @BeforeEach
    void start() throws Exception {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", exchange -> {
            calls.incrementAndGet();
            exchange.getRequestBody().readAllBytes();
            byte[] body = healthy.get()
                    ? "{\"model_name\":\"m\",\"outputs\":[{\"name\":\"y\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1.5]}]}"
                    .getBytes(StandardCharsets.UTF_8)
                    : "{\"error\":\"broken\"}".getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(healthy.get() ? 200 : failStatus, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    RemotePredictor predictor(Duration openFor) {
        return new RemotePredictor(URI.create("http://127.0.0.1:" + server.getAddress().getPort()), Duration.ofSeconds(10), openFor);
    }

    static List<Tensor> input() {
        return List.of(Tensor.ofFloats("x", new long[] {1}, new float[] {1}));
    }

    @Test
    void threeFailuresInARowOpenTheCircuitAndCallsFailAtOnceUntilAProbeSucceeds() {
        RemotePredictor remote = predictor(Duration.ofMillis(300));
        for (int i = 0; i < 3; i++) {
            assertThatThrownBy(() -> remote.infer("m", "1", input(), List.of("y")).join()).cause().hasMessageContaining("broken");
        }

        // open: the server is not called
        assertThatThrownBy(() -> remote.infer("m", "1", input(), List.of("y")).join()).isInstanceOf(CompletionException.class)
                .cause().isInstanceOf(ModelNotReadyException.class).hasMessageContaining("circuit open");
        assertThat(calls).hasValue(3);

        // the predictor recovers: once the circuit lets a probe through, calls are served again
        healthy.set(true);
        await().atMost(Duration.ofSeconds(10)).ignoreExceptions()
                .until(() -> remote.infer("m", "1", input(), List.of("y")).join().get(0).floats()[0] == 1.5f);
    }

    @Test
    void badInputAnswersDoNotOpenTheCircuit() {
        failStatus = 400;
        RemotePredictor remote = predictor(Duration.ofSeconds(60));
        for (int i = 0; i < 5; i++) {
            assertThatThrownBy(() -> remote.infer("m", "1", input(), List.of("y")).join()).cause()
                    .isInstanceOf(InvalidInputException.class).hasMessage("broken");
        }
        assertThat(calls).hasValue(5);
    }
}
