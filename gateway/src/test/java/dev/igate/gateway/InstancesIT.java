package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.Collections;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import org.springframework.test.context.TestPropertySource;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * Model instances seen from outside, through the server's metrics: with two 1-thread instances
 * per version (set here, so the test means the same on any machine), concurrent requests run on
 * both at once, a lone request runs on the solo session, and an explanation's pieces run on the
 * instances too.
 */
@TestPropertySource(properties = {"igate.defaults.instances=2", "igate.defaults.intra-op-threads=1",
        "igate.defaults.solo-threads=2", "igate.device-runs=2"})
class InstancesIT extends ServerTestSupport {

    static final String LONG_TEXT = String.join(" ", Collections.nCopies(30, "Oral bioavailability of arsenic in soil."));

    String metrics() {
        return client.get().uri("/actuator/prometheus").exchange().expectBody(String.class).returnResult().getResponseBody();
    }

    static double gauge(String metrics, String name) {
        Matcher m = Pattern.compile("(?m)^" + name + "\\{[^}]*device=\"cpu\"[^}]*} (\\S+)$").matcher(metrics);
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }

    static double instanceRuns(String metrics, String instance) {
        Matcher m = Pattern.compile("(?m)^igate_instance_runs_total\\{[^}]*instance=\"" + instance
                + "\",model_name=\"" + MODEL + "\",model_version=\"1\"[^}]*} (\\S+)$").matcher(metrics);
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }

    int predict(String text) {
        return client.post().uri("/v1/models/{m}/versions/1:predict", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"" + text + "\"]}").exchange().expectBody().returnResult().getStatus().value();
    }

    @Test
    void concurrentRequestsRunOnTwoInstancesAtOnce() {
        // given: eight clients sending 128-token texts for as long as it takes
        AtomicBoolean stop = new AtomicBoolean();
        Disposable load = Flux.range(0, 8)
                .flatMap(i -> Mono.fromCallable(() -> predict(LONG_TEXT)).repeat(() -> !stop.get())
                        .subscribeOn(Schedulers.boundedElastic()), 8)
                .subscribe();
        try {
            // then: the device saw two runs in flight, one on each instance
            await().atMost(Duration.ofMinutes(1)).until(() -> {
                String m = metrics();
                return gauge(m, "igate_device_runs_peak") >= 2 && instanceRuns(m, "0") > 0 && instanceRuns(m, "1") > 0;
            });
            assertThat(gauge(metrics(), "igate_device_runs_peak")).as("never more runs than the gate holds").isEqualTo(2);
        } finally {
            stop.set(true);
            load.dispose();
        }
    }

    @Test
    void aLoneRequestOnAnIdleServerRunsOnTheSoloSession() {
        await().atMost(Duration.ofSeconds(30)).until(() -> gauge(metrics(), "igate_device_runs_in_flight") == 0);
        double before = instanceRuns(metrics(), "solo");

        assertThat(predict(ServerTestSupport.SEED_TEXT)).isEqualTo(200);

        await().atMost(Duration.ofSeconds(10)).until(() -> instanceRuns(metrics(), "solo") > before);
    }

    @Test
    void anExplanationRunsItsPiecesOnBothInstances() {
        String m0 = metrics();
        double zero = instanceRuns(m0, "0");
        double one = instanceRuns(m0, "1");

        client.post().uri("/v1/models/{m}/versions/1:explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"" + LONG_TEXT + "\"], \"parameters\": {\"n_steps\": 8}}")
                .exchange().expectStatus().isOk();

        String m1 = metrics();
        assertThat(instanceRuns(m1, "0")).isGreaterThan(zero);
        assertThat(instanceRuns(m1, "1")).isGreaterThan(one);
    }
}
