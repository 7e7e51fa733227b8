package dev.igate.gateway.web;

import java.util.function.Function;

import dev.igate.gateway.PayloadLoggerProperties;
import dev.igate.gateway.serving.PayloadLogger;
import org.springframework.cloud.gateway.route.Route;
import org.springframework.cloud.gateway.support.ServerWebExchangeUtils;
import org.springframework.web.server.ServerWebExchange;
import reactor.util.context.Context;

/**
 * Payload logging per route: a gateway route whose metadata sets {@code logger-url} and/or
 * {@code logger-kafka-topic} (and {@code logger-mode}) logs the requests it forwards there, over
 * its model's own logging. The route reaches the handler with the exchange (forward: keeps it).
 */
final class RouteLogging {

    private RouteLogging() {
    }

    static Function<Context, Context> of(ServerWebExchange exchange) {
        if (ServingWarmUp.isWarmUp(exchange)) {
            // the server's own warm-up: nothing to log
            return context -> context.put(PayloadLogger.ROUTE_LOGGER, PayloadLogger.NOT_LOGGED);
        }
        Route route = exchange == null ? null : exchange.getAttribute(ServerWebExchangeUtils.GATEWAY_ROUTE_ATTR);
        PayloadLoggerProperties sink = route == null ? null : PayloadLogger.fromRouteMetadata(route.getMetadata());
        return context -> sink == null ? context : context.put(PayloadLogger.ROUTE_LOGGER, sink);
    }
}
