package dev.igate.gateway.routing;

import java.net.ConnectException;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import jakarta.annotation.PreDestroy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.cloud.client.ServiceInstance;
import org.springframework.cloud.client.discovery.ReactiveDiscoveryClient;
import org.springframework.context.annotation.Lazy;
import org.springframework.stereotype.Component;
import org.springframework.web.reactive.function.client.WebClient;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Whether each remote revision (a route to an http URI) and each instance of a load-balanced one
 * (a route to {@code lb://service}, its instances from the discovery client, e.g.
 * {@code spring.cloud.discovery.client.simple.instances.<service>[i].uri}) can take traffic: every
 * two seconds its {@code /v2/health/ready} is asked; a refused connection (by a check or by a real
 * request), a not-ready answer, or three checks in a row without an answer within two seconds mark
 * it down, and the next good check up again. An instance that is down gets no calls
 * ({@link HealthyInstances}); a revision that is down (an lb one: every instance down) gets no share
 * of its weight group, so a dead canary's traffic goes to the stable revision.
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

    /** The instances of each load-balanced service, as the discovery client last listed them. */
    private final Map<String, List<URI>> instances = new ConcurrentHashMap<>();

    public RouteHealth(@Lazy RevisionWeights weights, ObjectProvider<ReactiveDiscoveryClient> discovery) {
        this.weights = weights;
        ReactiveDiscoveryClient instanceList = discovery.getIfAvailable();
        this.checks = Flux.interval(Duration.ofMillis(500), INTERVAL).onBackpressureDrop()
                .concatMap(tick -> Flux.merge(
                        Flux.fromIterable(weights.revisions())
                                .filter(r -> r.uri() != null && r.uri().getScheme() != null && r.uri().getScheme().startsWith("http"))
                                .flatMap(r -> check(r.routeId(), r.uri())),
                        instanceChecks(instanceList)))
                .subscribe();
    }

    private Flux<Void> instanceChecks(ReactiveDiscoveryClient discovery) {
        if (discovery == null) {
            return Flux.empty();
        }
        return discovery.getServices()
                .flatMap(service -> discovery.getInstances(service).map(ServiceInstance::getUri).collectList()
                        .doOnNext(list -> instances.put(service, list))
                        .flatMapMany(Flux::fromIterable))
                .flatMap(uri -> check(key(uri), uri))
                .onErrorResume(e -> Flux.empty());
    }

    private Mono<Void> check(String key, URI target) {
        URI ready = target.resolve("/v2/health/ready");
        return client.get().uri(ready).exchangeToMono(response -> Mono.just(response.statusCode().is2xxSuccessful()))
                .timeout(Duration.ofSeconds(2))
                .doOnNext(ok -> {
                    slow.remove(key);
                    set(key, ok);
                })
                .onErrorResume(e -> {
                    // refused connections are definite; a slow answer on a busy machine is not, until it repeats
                    if (causedByConnection(e) || slow.merge(key, 1, Integer::sum) >= 3) {
                        set(key, false);
                    }
                    return Mono.empty();
                })
                .then();
    }

    /** The health key of an instance: its scheme, host and port. */
    static String key(URI instance) {
        return instance.getScheme() + "://" + instance.getHost() + ":" + instance.getPort();
    }

    /** True unless the instance's last check or call failed. Instances never checked are up. */
    public boolean isInstanceUp(URI instance) {
        return up.getOrDefault(key(instance), true);
    }

    /** Whether the service has an instance (as last listed) whose key is not in {@code tried}; true when not listed yet. */
    public boolean hasUntried(String service, java.util.Set<String> tried) {
        List<URI> list = instances.get(service);
        return list == null || list.stream().anyMatch(u -> !tried.contains(key(u)));
    }

    /** Marks an instance down after a call could not connect to it, or lost its connection before the answer. */
    public void instanceFailed(URI instance, Throwable error) {
        UpstreamFailure failure = UpstreamFailure.of(error);
        if (failure == UpstreamFailure.UNAVAILABLE || failure == UpstreamFailure.BROKEN) {
            set(key(instance), false);
        }
    }

    private void set(String key, boolean ok) {
        Boolean before = up.put(key, ok);
        if (before == null || before != ok) {
            log.info(key.contains("://") ? "Instance {} is {}" : "Route {} is {}", key, ok ? "up"
                    : key.contains("://") ? "down: it gets no calls until a check finds it ready"
                    : "down: its share goes to the other revisions of its group");
        }
    }

    /**
     * True unless the route's last check or request failed; for a route to {@code lb://service},
     * unless every instance of the service is down. Routes never checked are up.
     */
    public boolean isUp(Revision revision) {
        if (revision.uri() != null && "lb".equals(revision.uri().getScheme())) {
            List<URI> list = instances.get(revision.uri().getHost());
            return list == null || list.isEmpty() || list.stream().anyMatch(this::isInstanceUp);
        }
        return up.getOrDefault(revision.routeId(), true);
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
