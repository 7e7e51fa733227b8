package dev.igate.gateway.serving;

import java.util.concurrent.atomic.AtomicInteger;

import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;
import reactor.core.publisher.Mono;

/**
 * {@code igate_requests_in_flight}: the requests this server is serving now, REST and gRPC, from
 * arrival to the end of the answer: what Knative's {@code containerConcurrency} limits and its
 * autoscaler's concurrency metric counts, for a pod autoscaler's per-pod target. Probes and the
 * actuator ({@code /actuator/**}, {@code /v2/health/**}, gRPC health) are not counted, as Knative's
 * queue proxy answers those itself. Counting is two atomic operations; nothing here blocks.
 */
@Component
@Order(Ordered.HIGHEST_PRECEDENCE)
public class RequestConcurrency implements WebFilter {

    private final AtomicInteger inFlight = new AtomicInteger();

    public RequestConcurrency(MeterRegistry meters) {
        Gauge.builder("igate.requests.in.flight", inFlight, AtomicInteger::get)
                .description("requests being served now, REST and gRPC (containerConcurrency's meaning)").register(meters);
    }

    /** Requests in flight now. */
    public int inFlight() {
        return inFlight.get();
    }

    @Override
    public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
        String path = exchange.getRequest().getPath().value();
        if (path.startsWith("/actuator/") || path.startsWith("/v2/health/")) {
            return chain.filter(exchange);
        }
        return Mono.defer(() -> {
            inFlight.incrementAndGet();
            return chain.filter(exchange);
        }).doFinally(signal -> inFlight.decrementAndGet());
    }

    /** Counts the gRPC calls of the services it intercepts, from their start to their completion or cancellation. */
    public ServerInterceptor grpc() {
        return new ServerInterceptor() {
            @Override
            public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers, ServerCallHandler<Q, A> next) {
                inFlight.incrementAndGet();
                ServerCall.Listener<Q> listener;
                try {
                    listener = next.startCall(call, headers);
                } catch (RuntimeException e) {
                    inFlight.decrementAndGet();
                    throw e;
                }
                return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(listener) {
                    private final java.util.concurrent.atomic.AtomicBoolean ended = new java.util.concurrent.atomic.AtomicBoolean();

                    private void end() {
                        if (ended.compareAndSet(false, true)) {
                            inFlight.decrementAndGet();
                        }
                    }

                    @Override
                    public void onComplete() {
                        end();
                        super.onComplete();
                    }

                    @Override
                    public void onCancel() {
                        end();
                        super.onCancel();
                    }
                };
            }
        };
    }
}
