package dev.igate.gateway.routing;

import java.net.ConnectException;
import java.net.URI;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import jakarta.annotation.PreDestroy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.annotation.Lazy;
import org.springframework.stereotype.Component;
import org.springframework.web.reactive.function.client.WebClient;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Whether each remote revision (a route to an http URI) can take traffic: every two seconds its
 * {@code /v2/health/ready} is asked; a refused connection (by a check or by a real request), a
 * not-ready answer, or three checks in a row without an answer within two seconds mark it down. A revision that is down gets no share of its weight group, so
 * a dead canary's traffic goes to the stable revision.
 */
@Component
public class RouteHealth {

    static final Duration INTERVAL = Duration.ofSeconds(2);
    private static final Logger log = LoggerFactory.getLogger(RouteHealth.class);

    private final Map<String, Boolean> up = new ConcurrentHashMap<>();
    private final Map<String, Integer> slow = new ConcurrentHashMap<>();
    private final WebClient client = WebClient.create();
    private final RevisionWeights weights;
    private final Disposable checks;

    public RouteHealth(@Lazy RevisionWeights weights) {
        this.weights = weights;
        this.checks = Flux.interval(Duration.ofMillis(500), INTERVAL).onBackpressureDrop()
                .concatMap(tick -> Flux.fromIterable(weights.revisions())
                        .filter(r -> r.uri() != null && r.uri().getScheme() != null && r.uri().getScheme().startsWith("http"))
                        .flatMap(this::check))
                .subscribe();
    }

    private Mono<Void> check(Revision r) {
        URI ready = r.uri().resolve("/v2/health/ready");
        return client.get().uri(ready).exchangeToMono(response -> Mono.just(response.statusCode().is2xxSuccessful()))
                .timeout(Duration.ofSeconds(2))
                .doOnNext(ok -> {
                    slow.remove(r.routeId());
                    set(r.routeId(), ok);
                })
                .onErrorResume(e -> {
                    // refused connections are definite; a slow answer on a busy machine is not, until it repeats
                    if (causedByConnection(e) || slow.merge(r.routeId(), 1, Integer::sum) >= 3) {
                        set(r.routeId(), false);
                    }
                    return Mono.empty();
                })
                .then();
    }

    private void set(String routeId, boolean ok) {
        Boolean before = up.put(routeId, ok);
        if (before == null || before != ok) {
            log.info("Route {} is {}", routeId, ok ? "up" : "down: its share goes to the other revisions of its group");
        }
    }

    /** True unless the route's last check or request failed. Routes never checked are up. */
    public boolean isUp(String routeId) {
        return up.getOrDefault(routeId, true);
    }

    /** Marks a route down after a request could not connect to it. */
    public void connectionFailed(String routeId, Throwable error) {
        if (causedByConnection(error)) {
            set(routeId, false);
        }
    }

    /** Whether an error is, or was caused by, a failure to connect. */
    public static boolean causedByConnection(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof ConnectException || t.getClass().getName().contains("ConnectTimeoutException")) {
                return true;
            }
        }
        return false;
    }

    @PreDestroy
    void stop() {
        checks.dispose();
    }
}
