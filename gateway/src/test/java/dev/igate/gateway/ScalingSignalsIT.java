package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;

/**
 * The per-pod signals an autoscaler reads: {@code igate_requests_in_flight} (containerConcurrency's
 * meaning) rises while requests are being served and falls back to zero once they are answered;
 * {@code igate_model_in_flight}, {@code igate_queue_depth} and {@code igate_queue_expected_wait_seconds}
 * are there for every loaded version.
 */
class ScalingSignalsIT extends ServerTestSupport {

    double gauge(String name, String labels) {
        String metrics = new String(client.get().uri("/actuator/prometheus").exchange().expectBody().returnResult().getResponseBody());
        Matcher m = Pattern.compile("(?m)^" + name + "\\{" + labels + "[^}]*\\} ([0-9.E+-]+)$").matcher(metrics);
        return m.find() ? Double.parseDouble(m.group(1)) : Double.NaN;
    }

    @Test
    void requestsInFlightRiseWhileServedAndReturnToZeroWhenAnswered() {
        assertThat(gauge("igate_requests_in_flight", "")).isZero();
        List<Integer> statuses = new CopyOnWriteArrayList<>();
        String body = "{\"instances\": [\"" + SEED_TEXT + "\"]}";
        // explanations take long enough (many forward and backward passes) to be seen in flight
        for (int i = 0; i < 6; i++) {
            Thread t = new Thread(() -> statuses.add(client.post().uri("/v1/models/{m}:explain", MODEL)
                    .contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange().expectBody().returnResult().getStatus().value()));
            t.setDaemon(true);
            t.start();
        }
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20))
                .until(() -> gauge("igate_requests_in_flight", "") >= 2);
        await().atMost(Duration.ofSeconds(60)).until(() -> statuses.size() == 6);
        assertThat(statuses).containsOnly(200);
        await().atMost(Duration.ofSeconds(10)).until(() -> gauge("igate_requests_in_flight", "") == 0);
    }

    @Test
    void everyVersionHasItsInFlightQueueDepthAndExpectedWait() {
        for (String name : List.of("igate_model_in_flight", "igate_queue_depth", "igate_queue_expected_wait_seconds")) {
            for (String version : List.of("1", "2")) {
                assertThat(gauge(name, "[^}]*model_name=\"" + MODEL + "\",model_version=\"" + version + "\""))
                        .as(name + " of version " + version).isNotNaN();
            }
        }
    }
}
