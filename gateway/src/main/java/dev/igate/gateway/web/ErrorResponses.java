package dev.igate.gateway.web;

import dev.igate.gateway.routing.RevisionGatewayFilterFactory;
import dev.igate.gateway.routing.UpstreamFailure;
import dev.igate.gateway.http.ErrorStatus;
import dev.igate.protocol.InferenceException;
import dev.igate.protocol.Json;
import dev.igate.protocol.ServerBusyException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.core.annotation.Order;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.core.io.buffer.DataBufferLimitException;
import org.springframework.http.HttpStatus;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.MediaType;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ResponseStatusException;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebExceptionHandler;
import reactor.core.publisher.Mono;

/**
 * The one place errors become HTTP answers: {@code {"error": "..."}} with the status the error's
 * kind fixes. Expected errors are logged at DEBUG, unexpected ones at WARN with their stack; no
 * stack trace or file path ever reaches the client.
 */
@Component
@Order(-2)
public class ErrorResponses implements WebExceptionHandler {

    private static final Logger log = LoggerFactory.getLogger(ErrorResponses.class);

    @Override
    public Mono<Void> handle(ServerWebExchange exchange, Throwable error) {
        ServerHttpResponse response = exchange.getResponse();
        if (response.isCommitted()) {
            return Mono.error(error);
        }
        Throwable e = ErrorStatus.unwrap(error);
        int status;
        String message;
        if (e instanceof InferenceException ie) {
            status = ie.status();
            message = ie.getMessage();
            if (ie instanceof ServerBusyException busy) {
                response.getHeaders().set("Retry-After", String.valueOf(Math.max(1, busy.retryAfter().toSeconds())));
            }
            log.debug("{} {}: {}", exchange.getRequest().getMethod(), exchange.getRequest().getPath(), message);
        } else if (e instanceof DataBufferLimitException || e.getCause() instanceof DataBufferLimitException) {
            status = HttpStatus.CONTENT_TOO_LARGE.value();
            message = "Request body is too large";
        } else if (UpstreamFailure.of(e) != null) {
            // a remote revision failed before answering (and no other revision could take the call)
            UpstreamFailure failure = UpstreamFailure.of(e);
            status = failure.status();
            String revision = response.getHeaders().getFirst(RevisionGatewayFilterFactory.HEADER);
            message = "Upstream " + (revision == null ? "service" : "revision " + revision) + " " + failure.description();
            if (failure != UpstreamFailure.TIMED_OUT) {
                response.getHeaders().set("Retry-After", "1");
            }
            log.debug("{} {}: {} ({})", exchange.getRequest().getMethod(), exchange.getRequest().getPath(), message, e.toString());
        } else if (e instanceof ResponseStatusException rse) {
            status = rse.getStatusCode().value();
            message = describe(rse.getStatusCode(), rse);
            log.debug("{} {}: {}", exchange.getRequest().getMethod(), exchange.getRequest().getPath(), rse.getMessage());
        } else {
            status = 500;
            message = "Internal server error";
            log.warn("{} {} failed", exchange.getRequest().getMethod(), exchange.getRequest().getPath(), e);
        }
        response.setStatusCode(HttpStatusCode.valueOf(status));
        response.getHeaders().setContentType(MediaType.APPLICATION_JSON);
        byte[] body = Json.error(message);
        // consume what is left of the request body first: an answer sent before it would leave those
        // bytes on a kept-alive connection, where the client's next request would wait behind them
        return exchange.getRequest().getBody().doOnNext(DataBufferUtils::release).then()
                .onErrorResume(consumed -> Mono.empty())
                .then(Mono.defer(() -> response.writeWith(Mono.just(response.bufferFactory().wrap(body)))));
    }

    private static String describe(HttpStatusCode code, ResponseStatusException e) {
        if (code.value() == 404) {
            return "No such endpoint";
        }
        if (code.value() == 405) {
            return "Method not allowed";
        }
        if (code.value() == 415) {
            return e.getReason() != null ? e.getReason() : "Unsupported content type, send application/json";
        }
        String reason = e.getReason();
        HttpStatus known = HttpStatus.resolve(code.value());
        return reason != null ? reason : known != null ? known.getReasonPhrase() : "Request failed";
    }
}
