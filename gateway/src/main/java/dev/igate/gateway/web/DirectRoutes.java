package dev.igate.gateway.web;

import java.util.List;

import dev.igate.gateway.http.ErrorStatus;
import dev.igate.gateway.routing.Revision;
import dev.igate.gateway.routing.RevisionGatewayFilterFactory;
import dev.igate.gateway.routing.RevisionMetrics;
import dev.igate.gateway.routing.RevisionWeights;
import dev.igate.protocol.InvalidInputException;
import org.springframework.core.Ordered;
import org.springframework.http.HttpMethod;
import org.springframework.http.ResponseEntity;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.stereotype.Component;
import org.springframework.web.reactive.HandlerMapping;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;
import org.springframework.web.util.pattern.PathPattern;
import org.springframework.web.util.pattern.PathPatternParser;
import reactor.core.publisher.Mono;

/**
 * The canary routes' hot path: a call to the path of a weight group whose revisions are all
 * direct (in-process targets behind nothing but {@code Path}, {@code Method} and {@code Weight}
 * predicates and a {@code Revision} filter, as the shipped routes are) goes to the chosen
 * revision's handler here, with the choice the weights made for the exchange, its
 * {@code X-Revision} header and its revision metrics, instead of through Spring Cloud Gateway's
 * handler mapping, filter chain and {@code forward:} (a second dispatch of the exchange). The
 * routes, their weights and groups stay route configuration, changeable at run time; any other
 * route (a remote revision, a shadow copy, another filter or predicate, a payload logger of its
 * own) goes through the gateway as before.
 */
@Component
public class DirectRoutes implements WebFilter, Ordered {

    private static final PathPattern V2_INFER = PathPatternParser.defaultInstance.parse("/v2/models/{model}/versions/{version}/infer");
    private static final PathPattern V2_EXPLAIN = PathPatternParser.defaultInstance.parse("/v2/models/{model}/versions/{version}/explain");
    private static final PathPattern V1_PREDICT = PathPatternParser.defaultInstance.parse("/v1/models/{model}/versions/{version}:predict");
    private static final PathPattern V1_EXPLAIN = PathPatternParser.defaultInstance.parse("/v1/models/{model}/versions/{version}:explain");

    private final RevisionWeights weights;
    private final RevisionMetrics metrics;
    private final V1Handler v1;
    private final V2Handler v2;

    public DirectRoutes(RevisionWeights weights, RevisionMetrics metrics, V1Handler v1, V2Handler v2) {
        this.weights = weights;
        this.metrics = metrics;
        this.v1 = v1;
        this.v2 = v2;
    }

    @Override
    public int getOrder() {
        // after the weights rolled their dice for the exchange (RevisionWeights, 10002) and admission (10003)
        return 10004;
    }

    @Override
    public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
        if (exchange.getRequest().getMethod() != HttpMethod.POST) {
            return chain.filter(exchange);
        }
        Revision revision = weights.directChoice(exchange);
        Mono<ResponseEntity<byte[]>> answer = revision == null ? null : handle(revision, exchange);
        if (answer == null) {
            return chain.filter(exchange);
        }
        exchange.getResponse().getHeaders().set(RevisionGatewayFilterFactory.HEADER, revision.revision());
        long start = System.nanoTime();
        return answer.flatMap(entity -> write(exchange.getResponse(), entity))
                .doOnSuccess(v -> metrics.record(revision, System.nanoTime() - start, statusOf(exchange.getResponse()), false))
                .doOnError(e -> metrics.record(revision, System.nanoTime() - start, ErrorStatus.httpStatus(e),
                        RevisionMetrics.refusedForLoad(e)));
    }

    /** The handler call of the revision's target ({@code /v1/models/m/versions/v:predict}, ...), or null for another target. */
    private Mono<ResponseEntity<byte[]>> handle(Revision r, ServerWebExchange exchange) {
        String target = r.uri().getSchemeSpecificPart();
        String prefix = "/models/" + r.model() + "/versions/" + r.version();
        Mono<ResponseEntity<byte[]>> call;
        PathPattern pattern;
        if (target.equals("/v2" + prefix + "/infer")) {
            call = Mono.defer(() -> v2.infer(r.model(), r.version(), exchange));
            pattern = V2_INFER;
        } else if (target.equals("/v2" + prefix + "/explain")) {
            call = Mono.defer(() -> v2.explain(r.model(), r.version(), exchange.getRequest()));
            pattern = V2_EXPLAIN;
        } else if (target.equals("/v1" + prefix + ":predict")) {
            call = Mono.defer(() -> v1.predict(r.model(), r.version(), probabilities(exchange), exchange));
            pattern = V1_PREDICT;
        } else if (target.equals("/v1" + prefix + ":explain")) {
            call = Mono.defer(() -> v1.explain(r.model(), r.version(), exchange.getRequest()));
            pattern = V1_EXPLAIN;
        } else {
            return null;
        }
        // the uri tag of http_server_requests: the handler's pattern, as the gateway's forward left it
        exchange.getAttributes().put(HandlerMapping.BEST_MATCHING_PATTERN_ATTRIBUTE, pattern);
        org.springframework.http.server.reactive.observation.ServerRequestObservationContext.findCurrent(exchange.getAttributes())
                .ifPresent(context -> context.setPathPattern(pattern.getPatternString()));
        return call;
    }

    /** V1 predict's {@code ?probabilities=}, as Spring converts a boolean request parameter. */
    private static boolean probabilities(ServerWebExchange exchange) {
        List<String> values = exchange.getRequest().getQueryParams().get("probabilities");
        if (values == null || values.isEmpty()) {
            return false;
        }
        String value = values.get(0).trim().toLowerCase(java.util.Locale.ROOT);
        return switch (value) {
            case "true", "on", "yes", "1" -> true;
            case "false", "off", "no", "0", "" -> false;
            default -> throw new InvalidInputException("probabilities must be true or false, was " + values.get(0));
        };
    }

    private static Mono<Void> write(ServerHttpResponse response, ResponseEntity<byte[]> entity) {
        response.setStatusCode(entity.getStatusCode());
        response.getHeaders().putAll(entity.getHeaders());
        byte[] body = entity.getBody() == null ? new byte[0] : entity.getBody();
        response.getHeaders().setContentLength(body.length);
        return response.writeWith(Mono.just(response.bufferFactory().wrap(body)));
    }

    private static int statusOf(ServerHttpResponse response) {
        return response.getStatusCode() == null ? 200 : response.getStatusCode().value();
    }
}
