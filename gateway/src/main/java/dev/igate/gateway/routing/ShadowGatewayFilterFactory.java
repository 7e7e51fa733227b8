package dev.igate.gateway.routing;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Random;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.DoubleSupplier;

import dev.igate.gateway.IgateProperties;
import dev.igate.gateway.http.RequestBodies;
import dev.igate.protocol.Json;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import org.reactivestreams.Publisher;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.cloud.gateway.filter.GatewayFilter;
import org.springframework.cloud.gateway.filter.factory.AbstractGatewayFilterFactory;
import org.springframework.cloud.gateway.route.Route;
import org.springframework.cloud.gateway.support.ServerWebExchangeUtils;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.http.server.reactive.ServerHttpRequest;
import org.springframework.http.server.reactive.ServerHttpRequestDecorator;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.http.server.reactive.ServerHttpResponseDecorator;
import org.springframework.stereotype.Component;
import org.springframework.web.reactive.function.client.WebClient;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import tools.jackson.databind.JsonNode;

/**
 * {@code Shadow=<target>, <percent>}: mirrors that percentage of a route's requests to a shadow
 * revision — an in-process path ({@code forward:/v2/models/m/versions/2/infer}) or a remote URI —
 * after the primary has answered, the way Istio's mirror does. The caller gets only the primary's
 * answer and never waits for the shadow; a shadow failure is counted, never seen.
 *
 * <p>Metrics, tagged with the route: {@code igate_shadow_requests_total{outcome=agree|disagree|error|dropped}}
 * (agree = same labels as the primary) and {@code igate_shadow_latency_seconds{role=primary|shadow}}.
 * At most 64 shadow calls are in flight; beyond that they are dropped.
 */
@Component
public class ShadowGatewayFilterFactory extends AbstractGatewayFilterFactory<ShadowGatewayFilterFactory.Config> {

    private static final Logger log = LoggerFactory.getLogger(ShadowGatewayFilterFactory.class);
    private static final int MAX_IN_FLIGHT = 64;

    private final MeterRegistry meters;
    private final WebClient client;
    private final Semaphore inFlight = new Semaphore(MAX_IN_FLIGHT);
    private volatile DoubleSupplier random = new Random()::nextDouble;

    private final int maxBody;

    private final org.springframework.beans.factory.ObjectProvider<ExplanationDrift> drift;
    private final dev.igate.gateway.tracing.Tracing tracing;

    public ShadowGatewayFilterFactory(MeterRegistry meters, IgateProperties properties,
                                      org.springframework.beans.factory.ObjectProvider<ExplanationDrift> drift,
                                      dev.igate.gateway.tracing.Tracing tracing) {
        super(Config.class);
        this.drift = drift;
        this.tracing = tracing;
        this.meters = meters;
        this.client = WebClient.create();
        this.maxBody = (int) Math.min(Integer.MAX_VALUE, properties.maxRequestSize().toBytes());
    }

    /**
     * @param target  {@code forward:/path} for an in-process revision, or an http(s) URI
     * @param percent share of requests mirrored, 0 to 100
     */
    public record Config(String target, Double percent) {
    }

    @Override
    public List<String> shortcutFieldOrder() {
        return List.of("target", "percent");
    }

    public void setRandomSupplier(DoubleSupplier random) {
        this.random = random;
    }

    @Override
    public GatewayFilter apply(Config config) {
        double share = config.percent() == null ? 100 : config.percent();
        if (config.target() == null || share < 0 || share > 100) {
            throw new IllegalArgumentException("Shadow needs a target and a percent between 0 and 100");
        }
        return (exchange, chain) -> {
            if (random.getAsDouble() * 100 >= share) {
                return chain.filter(exchange);
            }
            Route route = exchange.getAttribute(ServerWebExchangeUtils.GATEWAY_ROUTE_ATTR);
            String routeId = route == null ? "" : route.getId();
            ServerHttpRequest request = exchange.getRequest();
            // the body is kept for the shadow copy, within the server's body limit (413 past it)
            return RequestBodies.collect(request.getBody(), maxBody)
                    .flatMap(body -> {
                        ServerHttpRequest replay = new ServerHttpRequestDecorator(request) {
                            @Override
                            public Flux<DataBuffer> getBody() {
                                return Flux.just(exchange.getResponse().bufferFactory().wrap(body));
                            }
                        };
                        CapturingResponse response = new CapturingResponse(exchange.getResponse());
                        long start = System.nanoTime();
                        return chain.filter(exchange.mutate().request(replay).response(response).build())
                                .doOnSuccess(v -> {
                                    timer(routeId, "primary").record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
                                    mirror(exchange, config.target(), route, body, response.body());
                                });
                    });
        };
    }

    /** Headers the shadow copy does not take over: the connection's own and the ones the client sets again. */
    private static final java.util.Set<String> HOP_BY_HOP = java.util.Set.of("host", "content-length", "connection",
            "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization", "proxy-connection", "expect");

    private void mirror(ServerWebExchange exchange, String target, Route route, byte[] body, byte[] primary) {
        String routeId = route == null ? "" : route.getId();
        ServerHttpRequest request = exchange.getRequest();
        URI uri;
        try {
            String base = target.startsWith("forward:")
                    ? "http://127.0.0.1:" + request.getLocalAddress().getPort() + target.substring("forward:".length())
                    : target;
            String query = request.getURI().getRawQuery();
            uri = URI.create(query == null ? base : base + (base.contains("?") ? "&" : "?") + query);
        } catch (RuntimeException e) {
            count(routeId, "error");
            log.debug("Shadow target {} of route {} is not a URI: {}", target, routeId, e.toString());
            return;
        }
        if (!inFlight.tryAcquire()) {
            count(routeId, "dropped");
            return;
        }
        long start = System.nanoTime();
        // the trace goes on from this server's span of the call, not from the caller's
        java.util.Map<String, String> trace = tracing.of(exchange.getAttributes()).headers();
        // the same call as the primary got: method, query, headers (content type, encoding, binary header length...)
        client.method(request.getMethod()).uri(uri)
                .headers(h -> {
                    request.getHeaders().forEach((name, values) -> {
                        if (!HOP_BY_HOP.contains(name.toLowerCase(java.util.Locale.ROOT))) {
                            h.addAll(name, values);
                        }
                    });
                    trace.forEach(h::set);
                })
                .bodyValue(body)
                .retrieve().bodyToMono(byte[].class)
                .timeout(Duration.ofSeconds(30))
                .doFinally(s -> inFlight.release())
                .subscribe(shadow -> {
                    timer(routeId, "shadow").record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
                    count(routeId, Objects.equals(labels(primary), labels(shadow)) ? "agree" : "disagree");
                    // both answered: their explanations of the call compared too, when sampled (igate.explainer.drift-every)
                    ExplanationDrift explanations = drift.getIfAvailable();
                    if (explanations != null && route != null) {
                        explanations.shadowed(routeId, route.getUri().toString(), target, body);
                    }
                }, e -> {
                    count(routeId, "error");
                    log.debug("Shadow call for route {} to {} failed: {}", routeId, uri, e.toString());
                });
    }

    /** The labels of a V1 ({@code predictions}) or V2 ({@code predict} output) answer, or the whole body. */
    static Object labels(byte[] body) {
        try {
            JsonNode root = Json.MAPPER.readTree(body);
            if (root.has("predictions")) {
                return root.get("predictions");
            }
            for (JsonNode output : root.path("outputs")) {
                if (output.path("name").asString("").equals("predict")) {
                    return output.get("data");
                }
            }
            return root.path("outputs");
        } catch (RuntimeException e) {
            return new String(body, java.nio.charset.StandardCharsets.UTF_8);
        }
    }

    private void count(String routeId, String outcome) {
        Counter.builder("igate.shadow.requests").tag("route", routeId).tag("outcome", outcome).register(meters).increment();
    }

    private Timer timer(String routeId, String role) {
        return Timer.builder("igate.shadow.latency").tag("route", routeId).tag("role", role)
                .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(1))
                .maximumExpectedValue(Duration.ofSeconds(30)).register(meters);
    }

    /** Passes the primary's answer through to the caller, keeping a copy to compare with the shadow's. */
    static final class CapturingResponse extends ServerHttpResponseDecorator {

        private volatile byte[] body = new byte[0];

        CapturingResponse(ServerHttpResponse delegate) {
            super(delegate);
        }

        @Override
        public Mono<Void> writeWith(Publisher<? extends DataBuffer> content) {
            return DataBufferUtils.join(Flux.from(content)).flatMap(joined -> {
                byte[] bytes = RequestBodies.bytes(joined);
                body = bytes;
                return super.writeWith(Mono.just(bufferFactory().wrap(bytes)));
            });
        }

        byte[] body() {
            return body;
        }
    }
}
