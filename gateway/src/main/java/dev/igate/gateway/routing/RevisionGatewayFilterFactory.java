package dev.igate.gateway.routing;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import org.springframework.cloud.gateway.filter.GatewayFilter;
import org.springframework.cloud.gateway.filter.factory.AbstractGatewayFilterFactory;
import org.springframework.cloud.gateway.route.Route;
import org.springframework.cloud.gateway.support.ServerWebExchangeUtils;
import org.springframework.http.HttpStatusCode;
import org.springframework.stereotype.Component;

/**
 * {@code Revision=canary}: names the revision a route serves. Every answer carries it in the
 * {@code X-Revision} header, and {@code igate_revision_requests_seconds} (a timer: count, sum and
 * buckets) is tagged with the route's weight group, revision and outcome, so stable and canary
 * compare side by side.
 */
@Component
public class RevisionGatewayFilterFactory extends AbstractGatewayFilterFactory<RevisionGatewayFilterFactory.Config> {

    public static final String HEADER = "X-Revision";
    public static final String METRIC = "igate.revision.requests";

    private final MeterRegistry meters;
    private final RouteHealth health;
    private final CanaryGuard guard;

    public RevisionGatewayFilterFactory(MeterRegistry meters, RouteHealth health, @org.springframework.context.annotation.Lazy CanaryGuard guard) {
        super(Config.class);
        this.meters = meters;
        this.health = health;
        this.guard = guard;
    }

    /** @param name revision name, e.g. stable or canary */
    public record Config(String name) {
    }

    @Override
    public List<String> shortcutFieldOrder() {
        return List.of("name");
    }

    @Override
    public GatewayFilter apply(Config config) {
        return (exchange, chain) -> {
            long start = System.nanoTime();
            exchange.getResponse().getHeaders().set(HEADER, config.name());
            Route route = exchange.getAttribute(ServerWebExchangeUtils.GATEWAY_ROUTE_ATTR);
            String group = route == null ? "" : String.valueOf(route.getMetadata().getOrDefault("group", route.getId()));
            return chain.filter(exchange).doOnError(e -> {
                if (route != null) {
                    health.connectionFailed(route.getId(), e);
                }
            }).doFinally(signal -> {
                HttpStatusCode status = exchange.getResponse().getStatusCode();
                int code = status == null ? 200 : status.value();
                String outcome = code < 400 ? "success" : code < 500 ? "client_error" : "server_error";
                if (route != null) {
                    Object model = route.getMetadata().get("model");
                    guard.record(model == null ? null : String.valueOf(model), config.name(),
                            "true".equals(String.valueOf(route.getMetadata().get("auto-rollback"))), System.nanoTime() - start, code);
                }
                Timer.builder(METRIC).tag("group", group).tag("revision", config.name()).tag("outcome", outcome)
                        .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(1))
                        .maximumExpectedValue(Duration.ofSeconds(30))
                        .register(meters).record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
            });
        };
    }
}
