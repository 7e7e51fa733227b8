package dev.igate.gateway;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;

import com.sun.net.httpserver.HttpServer;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;

/**
 * An OpenTelemetry collector's OTLP trace endpoint in the test JVM, decoding with OpenTelemetry's
 * own protobuf definitions and keeping every span it receives: OTLP/HTTP ({@code POST /v1/traces},
 * protobuf, as the exporter sends it), or OTLP/gRPC ({@link #grpc()}: the collector's
 * {@code TraceService/Export} on a gRPC server).
 */
final class OtlpReceiver implements AutoCloseable {

    private final HttpServer server;
    private final io.grpc.Server grpcServer;
    private final ConcurrentLinkedQueue<Span> spans = new ConcurrentLinkedQueue<>();

    /** OTLP over gRPC. */
    static OtlpReceiver grpc() throws IOException {
        return new OtlpReceiver(true);
    }

    OtlpReceiver() throws IOException {
        this(false);
    }

    private OtlpReceiver(boolean grpc) throws IOException {
        if (grpc) {
            server = null;
            grpcServer = io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                    .addService(new io.opentelemetry.proto.collector.trace.v1.TraceServiceGrpc.TraceServiceImplBase() {
                        @Override
                        public void export(ExportTraceServiceRequest request, io.grpc.stub.StreamObserver<ExportTraceServiceResponse> answer) {
                            keep(request);
                            answer.onNext(ExportTraceServiceResponse.getDefaultInstance());
                            answer.onCompleted();
                        }
                    }).build().start();
            return;
        }
        grpcServer = null;
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/v1/traces", exchange -> {
            try (InputStream in = exchange.getRequestBody()) {
                keep(ExportTraceServiceRequest.parseFrom(in.readAllBytes()));
                byte[] answer = ExportTraceServiceResponse.getDefaultInstance().toByteArray();
                exchange.getResponseHeaders().set("Content-Type", "application/x-protobuf");
                exchange.sendResponseHeaders(200, answer.length == 0 ? -1 : answer.length);
                if (answer.length > 0) {
                    exchange.getResponseBody().write(answer);
                }
            } catch (RuntimeException | Error e) {
                System.err.println("OTLP receiver could not read an export: " + e);
                exchange.sendResponseHeaders(400, -1);
            } finally {
                exchange.close();
            }
        });
        server.start();
    }

    private void keep(ExportTraceServiceRequest request) {
        for (ResourceSpans resource : request.getResourceSpansList()) {
            for (ScopeSpans scope : resource.getScopeSpansList()) {
                spans.addAll(scope.getSpansList());
            }
        }
    }

    /** The endpoint to configure: {@code management.opentelemetry.tracing.export.otlp.endpoint}. */
    String endpoint() {
        return grpcServer != null ? "http://127.0.0.1:" + grpcServer.getPort()
                : "http://127.0.0.1:" + server.getAddress().getPort() + "/v1/traces";
    }

    /** Every span received of a trace (hex id). */
    List<Span> trace(String traceId) {
        return spans.stream().filter(s -> hex(s.getTraceId().toByteArray()).equals(traceId)).toList();
    }

    List<Span> all() {
        return List.copyOf(spans);
    }

    static String hex(byte[] bytes) {
        return HexFormat.of().formatHex(bytes);
    }

    static String attribute(Span span, String key) {
        return span.getAttributesList().stream().filter(a -> a.getKey().equals(key)).findFirst()
                .map(a -> a.getValue().hasStringValue() ? a.getValue().getStringValue() : Long.toString(a.getValue().getIntValue()))
                .orElse(null);
    }

    @Override
    public void close() {
        if (grpcServer != null) {
            grpcServer.shutdownNow();
        } else {
            server.stop(0);
        }
    }
}
