package dev.igate.gateway.web;

import dev.igate.gateway.serving.ServingMetrics;
import dev.igate.gateway.model.ModelRegistry;
import dev.igate.gateway.model.ServedModel;
import dev.igate.gateway.routing.Revision;
import dev.igate.gateway.routing.RevisionWeights;
import dev.igate.predictor.batching.Scheduling;
import dev.igate.protocol.ServerBusyException;
import org.springframework.core.Ordered;
import org.springframework.http.HttpMethod;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;
import reactor.core.publisher.Mono;

/**
 * Admission at the door: a V1 predict or V2 infer whose model version's queue refuses work now
 * (full, or past max-queue-wait) is answered 503 + Retry-After here, before routing, before its body
 * is read and parsed, before anything is tokenized. Under overload a refusal then costs a fraction
 * of an accepted request, and refusals do not wait behind accepted work on the event loops.
 *
 * <p>The version is the one the request goes to: named in its path, or the revision the canary
 * weights chose for this exchange ({@link RevisionWeights} runs first), or the model's default. It
 * is checked at priority level 1, the most any request can get, so nothing the batcher would
 * admit is refused here: a request of a lower level is still checked again at its own level
 * later. Anything else (an unknown model, one not ready, a route of another shape) goes on to the
 * handlers, which answer it as before.
 */
@Component
public class AdmissionFilter implements WebFilter, Ordered {

    private final ModelRegistry registry;
    private final RevisionWeights weights;
    private final ServingMetrics metrics;

    public AdmissionFilter(ModelRegistry registry, RevisionWeights weights, ServingMetrics metrics) {
        this.registry = registry;
        this.weights = weights;
        this.metrics = metrics;
    }

    @Override
    public int getOrder() {
        // after the weights' dice (10002): the canary's choice is known
        return 10003;
    }

    /** A predict or infer call: the model, the version in the path (or null), and the endpoint tag. */
    record Call(String model, String version, String endpoint) {

        /** The call a path makes, or null for any other path. */
        static Call of(String path) {
            boolean v1 = path.startsWith("/v1/models/") && path.endsWith(":predict");
            boolean v2 = path.startsWith("/v2/models/") && path.endsWith("/infer");
            if (!v1 && !v2) {
                return null;
            }
            String rest = path.substring("/v1/models/".length(), path.length() - (v1 ? ":predict".length() : "/infer".length()));
            int slash = rest.indexOf('/');
            if (slash < 0) {
                return rest.isEmpty() ? null : new Call(rest, null, v1 ? "v1_predict" : "v2_infer");
            }
            String model = rest.substring(0, slash);
            String tail = rest.substring(slash);
            if (!tail.startsWith("/versions/") || tail.indexOf('/', "/versions/".length()) >= 0) {
                return null;
            }
            return new Call(model, tail.substring("/versions/".length()), v1 ? "v1_predict" : "v2_infer");
        }
    }

    @Override
    public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
        if (exchange.getRequest().getMethod() != HttpMethod.POST) {
            return chain.filter(exchange);
        }
        String path = exchange.getRequest().getPath().value();
        Call call = Call.of(path);
        if (call == null) {
            return chain.filter(exchange);
        }
        String version = call.version();
        if (version == null) {
            Revision chosen = weights.chosenFor(exchange, path);
            version = chosen == null ? null : chosen.version();
        }
        ServedModel served;
        try {
            served = registry.resolve(call.model(), version);
            served.checkAdmission(Scheduling.DEFAULT);
        } catch (ServerBusyException busy) {
            metrics.request(call.model(), version, call.endpoint(), busy);
            return Mono.error(busy);
        } catch (RuntimeException other) {
            // not this filter's to answer: the handler says what is wrong with the call
            return chain.filter(exchange);
        }
        return chain.filter(exchange);
    }
}
