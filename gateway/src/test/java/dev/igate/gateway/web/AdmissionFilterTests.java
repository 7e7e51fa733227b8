package dev.igate.gateway.web;

import dev.igate.gateway.serving.ServingMetrics;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import dev.igate.demo.TinyClassifier;
import dev.igate.gateway.model.ModelRegistry;
import dev.igate.gateway.model.RegistryHarness;
import dev.igate.gateway.model.ServedModel;
import dev.igate.gateway.routing.RevisionWeights;
import dev.igate.predictor.batching.InstanceJob;
import dev.igate.predictor.batching.InstanceScheduler;
import dev.igate.protocol.ServerBusyException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.mock.http.server.reactive.MockServerHttpRequest;
import org.springframework.mock.web.server.MockServerWebExchange;
import org.springframework.web.server.WebFilterChain;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/** Admission at the door, on a real registry and batcher whose queue a test fills with real work. */
class AdmissionFilterTests {

    @TempDir
    Path folder;

    RegistryHarness harness;
    final List<CountDownLatch> holds = new ArrayList<>();

    @AfterEach
    void stop() {
        holds.forEach(CountDownLatch::countDown);
        if (harness != null) {
            harness.close();
        }
    }

    @Test
    void callsAreReadFromTheirPaths() {
        assertThat(AdmissionFilter.Call.of("/v1/models/m:predict")).isEqualTo(new AdmissionFilter.Call("m", null, "v1_predict"));
        assertThat(AdmissionFilter.Call.of("/v1/models/m/versions/2:predict")).isEqualTo(new AdmissionFilter.Call("m", "2", "v1_predict"));
        assertThat(AdmissionFilter.Call.of("/v2/models/m/infer")).isEqualTo(new AdmissionFilter.Call("m", null, "v2_infer"));
        assertThat(AdmissionFilter.Call.of("/v2/models/m/versions/1/infer")).isEqualTo(new AdmissionFilter.Call("m", "1", "v2_infer"));
        assertThat(AdmissionFilter.Call.of("/v2/models/m/explain")).isNull();
        assertThat(AdmissionFilter.Call.of("/v2/models/m/versions/1/x/infer")).isNull();
        assertThat(AdmissionFilter.Call.of("/v1/models/:predict")).isNull();
        assertThat(AdmissionFilter.Call.of("/shadowed-binary/infer")).isNull();
    }

    /** Work that holds the version's only worker until the test lets it go, and then work queued behind it. */
    void fillTheQueue(ServedModel served, int queued) {
        InstanceScheduler scheduler = served.explainer().scheduler();
        CountDownLatch hold = new CountDownLatch(1);
        holds.add(hold);
        CountDownLatch running = new CountDownLatch(1);
        scheduler.submit(new InstanceJob<>(1, at -> {
            running.countDown();
            try {
                return hold.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }));
        await().atMost(Duration.ofSeconds(30)).until(() -> running.getCount() == 0);
        for (int i = 0; i < queued; i++) {
            scheduler.submit(new InstanceJob<>(1, at -> true));
        }
    }

    @Test
    void aCallToAFullQueueIsRefusedBeforeItsBodyIsReadOrTheRoutesRun() throws Exception {
        TinyClassifier.write(folder.resolve("models").resolve("Tiny").resolve("1"), "Tanh", 1);
        harness = new RegistryHarness(folder);
        ModelRegistry registry = harness.start(Map.of("igate.models.Tiny.queue-capacity", "2"));
        ServingMetrics metrics = new ServingMetrics(harness.meters, registry);
        AdmissionFilter filter = new AdmissionFilter(registry, new RevisionWeights(Flux::empty, registry, null, null, dev.igate.gateway.tracing.Tracing.off()), metrics);
        AtomicBoolean passed = new AtomicBoolean();
        WebFilterChain chain = exchange -> {
            passed.set(true);
            return Mono.empty();
        };
        fillTheQueue(registry.resolve("Tiny", "1"), 2);

        // a body that is not even JSON: refused before anything reads it
        for (String path : List.of("/v1/models/Tiny:predict", "/v2/models/Tiny/versions/1/infer")) {
            MockServerWebExchange exchange = MockServerWebExchange.from(MockServerHttpRequest.post(path).body("{\"not json"));
            assertThatThrownBy(() -> filter.filter(exchange, chain).block()).isInstanceOf(ServerBusyException.class)
                    .hasMessageContaining("has 2 requests queued");
        }
        assertThat(passed).isFalse();
        assertThat(harness.meters.find("igate.requests").tag("outcome", "server_error").counters()).isNotEmpty();

        // what the door does not decide goes on: other endpoints, unknown models, and anything once the queue has room
        filter.filter(MockServerWebExchange.from(MockServerHttpRequest.post("/v2/models/Tiny/explain").body("{}")), chain).block();
        assertThat(passed.getAndSet(false)).isTrue();
        filter.filter(MockServerWebExchange.from(MockServerHttpRequest.post("/v2/models/Nope/infer").body("{}")), chain).block();
        assertThat(passed.getAndSet(false)).isTrue();
        holds.forEach(CountDownLatch::countDown);
        await().atMost(Duration.ofSeconds(30)).until(() -> registry.resolve("Tiny", "1").queueDepth() == 0);
        filter.filter(MockServerWebExchange.from(MockServerHttpRequest.post("/v1/models/Tiny:predict").body("{}")), chain).block();
        assertThat(passed).isTrue();
    }
}
