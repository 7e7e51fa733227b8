package dev.igate.gateway.routing;

import java.util.List;
import java.util.Optional;

import dev.igate.gateway.IgateProperties;
import dev.igate.gateway.http.ErrorStatus;
import dev.igate.gateway.http.RequestBodies;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.cloud.gateway.filter.GatewayFilter;
import org.springframework.cloud.gateway.filter.GatewayFilterChain;
import org.springframework.cloud.gateway.filter.factory.AbstractGatewayFilterFactory;
import org.springframework.cloud.gateway.route.Route;
import org.springframework.cloud.gateway.route.RouteLocator;
import org.springframework.cloud.gateway.support.ServerWebExchangeUtils;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.server.reactive.ServerHttpRequestDecorator;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * {@code Revision=canary}: names the revision a route serves. Every answer carries it in the
 * {@code X-Revision} header, and {@code igate_revision_requests_seconds} (a timer: count, sum and
 * buckets) is tagged with the route's weight group, revision and outcome, so stable and canary
 * compare side by side.
 *
 * <p>A remote revision (an http URI) that fails before answering — connection refused or broken,
 * or an answer of 502 or 503 — costs the caller nothing while another revision of its weight
 * group can serve: the call (predictions are idempotent; its body is kept for this) goes once
 * more, to that revision. The failure still counts against the revision that failed, for
 * {@link CanaryGuard}; {@code igate_revision_retries_total} counts the calls moved.
 *
 * <p>A revision may be a list of instances ({@code lb://service}, Spring Cloud LoadBalancer over
 * the instances the discovery client lists, health-checked by {@link RouteHealth}): a call an
 * instance fails to answer goes first to another instance of the same revision that this call has
 * not tried ({@link HealthyInstances}; the failed instance is marked down when its connection was
 * refused or broke), and only then to another revision; {@code igate_instance_retries_total}
 * counts those moves. So losing a replica mid-load costs no request while another one serves.
 */
@Component
public class RevisionGatewayFilterFactory extends AbstractGatewayFilterFactory<RevisionGatewayFilterFactory.Config> {

    public static final String HEADER = "X-Revision";

    private final RevisionMetrics metrics;
    private final RouteHealth health;
    private final RevisionWeights weights;
    private final ObjectProvider<RouteLocator> routes;
    private final MeterRegistry meters;
    private final int maxBody;

    public RevisionGatewayFilterFactory(RevisionMetrics metrics, RouteHealth health, RevisionWeights weights,
                                        ObjectProvider<RouteLocator> routes, MeterRegistry meters, IgateProperties properties) {
        super(Config.class);
        this.metrics = metrics;
        this.health = health;
        this.weights = weights;
        this.routes = routes;
        this.meters = meters;
        this.maxBody = (int) Math.min(Integer.MAX_VALUE, properties.maxRequestSize().toBytes());
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
            Route route = exchange.getAttribute(ServerWebExchangeUtils.GATEWAY_ROUTE_ATTR);
            if (route == null || !remote(route) || !weights.hasAlternatives(route.getId()) && !balanced(route)) {
                return attempt(exchange, chain, route, config.name(), false);
            }
            return replayable(exchange).flatMap(ex -> attempt(ex, chain, route, config.name(), true));
        };
    }

    private static boolean remote(Route route) {
        String scheme = route.getUri().getScheme();
        return "http".equals(scheme) || "https".equals(scheme) || "lb".equals(scheme);
    }

    private static boolean balanced(Route route) {
        return "lb".equals(route.getUri().getScheme());
    }

    /** Most instances of one revision a call is sent to before it goes to another revision. */
    static final int MAX_INSTANCE_ATTEMPTS = 3;

    /** The exchange with its body read once and kept, so that it can be sent twice (up to the body limit: 413 past it). */
    /**
     * Ends the failed attempt's client observation (Spring Cloud Gateway's, started when the call
     * went upstream, with the traceparent it sent) with the error: a response would have ended it,
     * and an error the gateway answers reaches its closing exception handler, but an attempt this
     * filter retries reaches neither, and its span would be lost.
     */
    private static void attemptFailed(ServerWebExchange exchange, Throwable error) {
        if (exchange.getAttributes().remove(ServerWebExchangeUtils.GATEWAY_OBSERVATION_ATTR) instanceof io.micrometer.observation.Observation o) {
            o.error(error);
            o.stop();
        }
    }

    private Mono<ServerWebExchange> replayable(ServerWebExchange exchange) {
        return RequestBodies.collect(exchange.getRequest().getBody(), maxBody)
                .map(bytes -> exchange.mutate().request(new ServerHttpRequestDecorator(exchange.getRequest()) {
                    @Override
                    public Flux<DataBuffer> getBody() {
                        return bytes.length == 0 ? Flux.empty()
                                : Flux.defer(() -> Flux.just(exchange.getResponse().bufferFactory().wrap(bytes)));
                    }
                }).build());
    }

    private Mono<Void> attempt(ServerWebExchange exchange, GatewayFilterChain chain, Route route, String revision,
                               boolean mayRetry) {
        long start = System.nanoTime();
        exchange.getResponse().getHeaders().set(HEADER, revision);
        return chain.filter(exchange)
                .thenReturn(Optional.<Throwable>empty())
                .onErrorResume(e -> Mono.just(Optional.of(e)))
                .flatMap(error -> {
                    error.ifPresent(e -> attemptFailed(exchange, e));
                    UpstreamFailure failure = error.map(UpstreamFailure::of).orElse(null);
                    int status = error.isPresent() ? (failure != null ? failure.status() : ErrorStatus.httpStatus(error.get())) : status(exchange);
                    java.net.URI instance = HealthyInstances.chosen(exchange.getAttribute(ServerWebExchangeUtils.GATEWAY_LOADBALANCER_RESPONSE_ATTR));
                    if (route != null) {
                        if (instance == null) {
                            error.ifPresent(e -> health.connectionFailed(route.getId(), e));
                        } else {
                            error.ifPresent(e -> health.instanceFailed(instance, e));
                        }
                        record(route, revision, System.nanoTime() - start, status, error.map(RevisionMetrics::refusedForLoad).orElse(false));
                    }
                    boolean noAnswer = error.isPresent() ? failure != null && failure.retryable() : status == 502 || status == 503;
                    if (noAnswer && instance != null && !exchange.getResponse().isCommitted()) {
                        java.util.Set<String> tried = cast((java.util.Set<?>) exchange.getAttributes().computeIfAbsent(
                                HealthyInstances.TRIED, k -> java.util.concurrent.ConcurrentHashMap.newKeySet()));
                        tried.add(RouteHealth.key(instance));
                        if (tried.size() < MAX_INSTANCE_ATTEMPTS && health.hasUntried(route.getUri().getHost(), tried)) {
                            return otherInstance(exchange, chain, route, revision, error, mayRetry);
                        }
                    }
                    if (mayRetry && noAnswer && !exchange.getResponse().isCommitted()) {
                        return retry(exchange, chain, route, revision, error);
                    }
                    return error.map(Mono::<Void>error).orElse(Mono.empty());
                });
    }

    @SuppressWarnings("unchecked")
    private static java.util.Set<String> cast(java.util.Set<?> set) {
        return (java.util.Set<String>) set;
    }

    /**
     * Sends the call to another instance of the same revision (the load balancer offers only
     * instances this call has not tried); when none is left, on to another revision as below.
     */
    private Mono<Void> otherInstance(ServerWebExchange exchange, GatewayFilterChain chain, Route route, String revision,
                                     Optional<Throwable> error, boolean mayRetry) {
        ServerWebExchangeUtils.reset(exchange);
        exchange.getAttributes().remove(ServerWebExchangeUtils.GATEWAY_LOADBALANCER_RESPONSE_ATTR);
        exchange.getAttributes().put(ServerWebExchangeUtils.GATEWAY_ROUTE_ATTR, route);
        Counter.builder("igate.instance.retries").description("Calls an instance of a revision failed to answer, sent to another instance of it")
                .tag("group", group(route)).tag("revision", revision).register(meters).increment();
        return attempt(exchange, chain, route, revision, mayRetry);
    }

    /** Sends the call to another revision of the group, or ends it as the first attempt did when none can serve. */
    private Mono<Void> retry(ServerWebExchange exchange, GatewayFilterChain chain, Route failed, String failedRevision,
                             Optional<Throwable> error) {
        Revision other = weights.alternative(failed.getId());
        Mono<Route> next = other == null ? Mono.empty()
                : routes.getObject().getRoutes().filter(r -> r.getId().equals(other.routeId())).next();
        return next.map(Optional::of).defaultIfEmpty(Optional.empty()).flatMap(found -> {
            if (found.isEmpty()) {
                return error.map(Mono::<Void>error).orElse(Mono.empty());
            }
            Route route = found.get();
            // forget the failed attempt: its upstream connection, the headers it copied, the routed mark
            ServerWebExchangeUtils.reset(exchange);
            exchange.getAttributes().put(ServerWebExchangeUtils.GATEWAY_ROUTE_ATTR, route);
            Counter.builder("igate.revision.retries").description("Calls a remote revision failed to answer, sent to another revision of its group")
                    .tag("group", group(route)).tag("from", failedRevision).tag("to", other.revision())
                    .register(meters).increment();
            return attempt(exchange, chain, route, other.revision(), false);
        });
    }

    private static int status(ServerWebExchange exchange) {
        HttpStatusCode status = exchange.getResponse().getStatusCode();
        return status == null ? 200 : status.value();
    }

    private static String group(Route route) {
        return String.valueOf(route.getMetadata().getOrDefault("group", route.getId()));
    }

    private void record(Route route, String revision, long nanos, int status, boolean refused) {
        Object model = route.getMetadata().get("model");
        boolean autoRollback = "true".equals(String.valueOf(route.getMetadata().get("auto-rollback")));
        metrics.record(group(route), revision, model == null ? null : String.valueOf(model), autoRollback, nanos, status, refused);
    }
}
