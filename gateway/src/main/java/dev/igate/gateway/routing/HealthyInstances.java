package dev.igate.gateway.routing;

import java.net.URI;
import java.util.List;
import java.util.Set;

import org.springframework.cloud.client.ServiceInstance;
import org.springframework.cloud.client.loadbalancer.Request;
import org.springframework.cloud.client.loadbalancer.RequestDataContext;
import org.springframework.cloud.loadbalancer.annotation.LoadBalancerClients;
import org.springframework.cloud.loadbalancer.core.DelegatingServiceInstanceListSupplier;
import org.springframework.cloud.loadbalancer.core.ServiceInstanceListSupplier;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import reactor.core.publisher.Flux;

/**
 * The instances of a load-balanced revision ({@code lb://service}, Spring Cloud LoadBalancer) that
 * a call may go to: those {@link RouteHealth} has not marked down, less those this call already
 * tried (a call that an instance failed to answer goes once more, to another instance). When every
 * instance left is marked down the untried ones are offered anyway (the marks may be stale), so a
 * call never fails for want of a candidate while one might answer.
 */
public final class HealthyInstances extends DelegatingServiceInstanceListSupplier {

    /** Exchange attribute: the instances ({@link RouteHealth#key}) this call was already sent to. */
    public static final String TRIED = "igate.tried-instances";

    private final RouteHealth health;

    HealthyInstances(ServiceInstanceListSupplier delegate, RouteHealth health) {
        super(delegate);
        this.health = health;
    }

    @Override
    public Flux<List<ServiceInstance>> get() {
        return delegate.get().map(list -> choose(list, Set.of()));
    }

    @Override
    public Flux<List<ServiceInstance>> get(Request request) {
        Set<String> tried = tried(request);
        return delegate.get(request).map(list -> choose(list, tried));
    }

    List<ServiceInstance> choose(List<ServiceInstance> all, Set<String> tried) {
        List<ServiceInstance> untried = all.stream().filter(i -> !tried.contains(RouteHealth.key(i.getUri()))).toList();
        List<ServiceInstance> up = untried.stream().filter(i -> health.isInstanceUp(i.getUri())).toList();
        return up.isEmpty() ? untried : up;
    }

    @SuppressWarnings("unchecked")
    private static Set<String> tried(Request request) {
        if (request != null && request.getContext() instanceof RequestDataContext context && context.getClientRequest() != null
                && context.getClientRequest().getAttributes() != null
                && context.getClientRequest().getAttributes().get(TRIED) instanceof Set<?> set) {
            return (Set<String>) set;
        }
        return Set.of();
    }

    /** The instance a load-balanced call went to, from the gateway's record of the choice; null for other calls. */
    public static URI chosen(Object loadBalancerResponse) {
        if (loadBalancerResponse instanceof org.springframework.cloud.client.loadbalancer.Response<?> response
                && response.hasServer() && response.getServer() instanceof ServiceInstance instance) {
            return instance.getUri();
        }
        return null;
    }

    /** Every load-balanced service's instances go through {@link HealthyInstances}. */
    @Configuration(proxyBeanMethods = false)
    @LoadBalancerClients(defaultConfiguration = HealthyInstances.PerService.class)
    static class Setup {
    }

    /** The supplier chain of one service (in its own LoadBalancer child context): discovery, then health. */
    static class PerService {
        @Bean
        ServiceInstanceListSupplier healthyInstances(ConfigurableApplicationContext context) {
            RouteHealth health = context.getBean(RouteHealth.class);
            return ServiceInstanceListSupplier.builder().withDiscoveryClient()
                    .with((ctx, delegate) -> new HealthyInstances(delegate, health)).build(context);
        }
    }
}
