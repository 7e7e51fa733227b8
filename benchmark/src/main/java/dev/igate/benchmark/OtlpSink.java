package dev.igate.benchmark;

import java.net.InetSocketAddress;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

import com.sun.net.httpserver.HttpServer;

/**
 * A stand-in OpenTelemetry collector for the tracing benchmark: accepts OTLP/HTTP exports on
 * {@code /v1/traces} and answers 200 at once, counting exports and bytes (printed every 10 s), so
 * the server pays for making, batching and sending its spans and nothing waits on a backend.
 * Usage: {@code OtlpSink <port>}.
 */
public final class OtlpSink {

    private OtlpSink() {
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        AtomicLong exports = new AtomicLong();
        AtomicLong bytes = new AtomicLong();
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 64);
        server.setExecutor(Executors.newFixedThreadPool(2));
        server.createContext("/v1/traces", exchange -> {
            bytes.addAndGet(exchange.getRequestBody().readAllBytes().length);
            exports.incrementAndGet();
            exchange.sendResponseHeaders(200, -1);
            exchange.close();
        });
        server.start();
        while (true) {
            Thread.sleep(10_000);
            System.out.printf("otlp sink: %d exports, %d bytes%n", exports.get(), bytes.get());
        }
    }
}
