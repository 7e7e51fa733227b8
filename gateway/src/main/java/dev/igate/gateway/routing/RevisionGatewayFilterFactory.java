package dev.igate.gateway.routing;

import java.util.List;

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

    private final RevisionMetrics metrics;
    private final RouteHealth health;

    public RevisionGatewayFilterFactory(RevisionMetrics metrics, RouteHealth health) {
        super(Config.class);
        this.metrics = metrics;
        this.health = health;
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
                Object model = route == null ? null : route.getMetadata().get("model");
                boolean autoRollback = route != null && "true".equals(String.valueOf(route.getMetadata().get("auto-rollback")));
                metrics.record(group, config.name(), model == null ? null : String.valueOf(model), autoRollback,
                        System.nanoTime() - start, status == null ? 200 : status.value());
            });
        };
    }
}
