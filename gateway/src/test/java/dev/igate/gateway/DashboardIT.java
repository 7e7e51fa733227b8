package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The Grafana dashboard in deploy/grafana only charts metrics the server exports, and the
 * Prometheus exposition passes {@code promtool check metrics} (Debian's prometheus package,
 * installed by .ci/run).
 */
@ShadowRoutesTest
class DashboardIT extends ServerTestSupport {

    static final Path DASHBOARD = Path.of("..", "deploy", "grafana", "igate-dashboard.json");
    static final Pattern METRIC = Pattern.compile("([a-z_][a-z0-9_]*)\\s*[{\\[]");

    String exposition() throws InterruptedException {
        client.post().uri("/v1/models/{m}:predict", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"" + SEED_TEXT + "\"]}").exchange().expectStatus().isOk();
        client.post().uri("/v2/models/{m}/infer", MODEL).contentType(MediaType.APPLICATION_JSON).bodyValue(SEED)
                .exchange().expectStatus().isOk();
        client.post().uri("/v1/models/{m}:explain", MODEL).contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"short\"], \"parameters\": {\"n_steps\": 4}}").exchange().expectStatus().isOk();
        return await().atMost(java.time.Duration.ofSeconds(30))
                .until(() -> client.get().uri("/actuator/prometheus").exchange().expectBody(String.class).returnResult().getResponseBody(),
                        m -> m.contains("igate_shadow_latency_seconds_bucket{") && m.contains("outcome=\"agree\"")
                                && m.contains("igate_explanation_drift_overlap_count{"));
    }

    static Set<String> dashboardMetrics() throws Exception {
        JsonNode dashboard = JsonMapper.builder().build().readTree(Files.readAllBytes(DASHBOARD));
        Set<String> names = new TreeSet<>();
        for (JsonNode panel : dashboard.get("panels")) {
            for (JsonNode target : panel.get("targets")) {
                Matcher m = METRIC.matcher(target.get("expr").stringValue());
                while (m.find()) {
                    names.add(m.group(1));
                }
            }
        }
        return names;
    }

    @Test
    void everyMetricTheDashboardQueriesIsExported() throws Exception {
        String metrics = exposition();
        Set<String> names = dashboardMetrics();

        assertThat(names).hasSizeGreaterThan(15).contains("igate_requests_total", "nv_inference_count_total",
                "igate_revision_requests_seconds_count", "igate_shadow_requests_total", "igate_explanation_drift_overlap_count",
                "igate_explanation_drift_samples_total");
        for (String name : names) {
            assertThat(metrics).as("metric %s charted by the dashboard", name).containsPattern("(?m)^" + name + "[{ ]");
        }
    }

    @Test
    void theExpositionPassesPromtool() throws Exception {
        String metrics = exposition();
        Path promtool = Path.of("/usr/bin/promtool");
        assertThat(promtool).as("promtool (Debian package prometheus, installed by .ci/run)").exists();
        Process check = new ProcessBuilder(promtool.toString(), "check", "metrics").redirectErrorStream(true).start();
        check.getOutputStream().write(metrics.getBytes(StandardCharsets.UTF_8));
        check.getOutputStream().close();
        String report = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8);

        assertThat(check.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(check.exitValue()).as(report).isZero();
    }
}
