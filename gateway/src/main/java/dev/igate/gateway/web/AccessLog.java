package dev.igate.gateway.web;

import dev.igate.gateway.tracing.RequestTrace;
import dev.igate.gateway.tracing.Tracing;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.core.Ordered;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;
import reactor.core.publisher.Mono;

/**
 * One line per REST call on the logger {@code igate.access} ({@code igate.access-log.enabled:
 * true}): method, path, status, milliseconds, and the call's trace id (sampled or not: a call whose
 * {@code traceparent} said not to sample is still found by its id), also in the line's MDC
 * ({@code traceId}, {@code spanId}) for structured logs.
 */
@Component
@ConditionalOnProperty(name = "igate.access-log.enabled", havingValue = "true")
public class AccessLog implements WebFilter, Ordered {

    private static final Logger log = LoggerFactory.getLogger("igate.access");

    private final Tracing tracing;

    public AccessLog(Tracing tracing) {
        this.tracing = tracing;
    }

    @Override
    public int getOrder() {
        return Ordered.HIGHEST_PRECEDENCE + 10;
    }

    @Override
    public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
        long start = System.nanoTime();
        return chain.filter(exchange).doFinally(signal -> {
            RequestTrace trace = tracing.of(exchange.getAttributes());
            String traceId = trace.traceId();
            if (traceId != null) {
                MDC.put("traceId", traceId);
                MDC.put("spanId", trace.context().spanId());
            }
            try {
                log.info("{} {} {} {} ms trace={}", exchange.getRequest().getMethod(), exchange.getRequest().getPath().value(),
                        exchange.getResponse().getStatusCode() == null ? 0 : exchange.getResponse().getStatusCode().value(),
                        String.format(java.util.Locale.ROOT, "%.1f", (System.nanoTime() - start) / 1e6), traceId == null ? "-" : traceId);
            } finally {
                MDC.remove("traceId");
                MDC.remove("spanId");
            }
        });
    }
}
