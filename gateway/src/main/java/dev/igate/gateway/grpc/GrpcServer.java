package dev.igate.gateway.grpc;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import dev.igate.gateway.GrpcProperties;
import dev.igate.gateway.model.ModelRegistry;
import dev.igate.grpc.v2.GRPCExplainServiceGrpc;
import dev.igate.grpc.v2.GRPCInferenceServiceGrpc;
import io.grpc.ServerServiceDefinition;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.SmartLifecycle;

/**
 * The gRPC endpoint on its own port: inference.GRPCInferenceService, igate.GRPCExplainService,
 * the standard grpc.health.v1.Health (SERVING once every model version is loaded, for the
 * server as a whole and for each service by name) and server reflection, so that grpcurl and
 * similar tools can list and call the services without the .proto files.
 *
 * <p>Starts after the model registry and stops before it: on stop, health turns NOT_SERVING,
 * new calls are refused, and calls in flight get {@code igate.grpc.shutdown-grace} to finish.
 */
public class GrpcServer implements SmartLifecycle {

    private static final Logger log = LoggerFactory.getLogger(GrpcServer.class);
    private static final String[] SERVICES = {"", GRPCInferenceServiceGrpc.SERVICE_NAME, GRPCExplainServiceGrpc.SERVICE_NAME};

    private final GrpcProperties properties;
    private final int maxMessageSize;
    private final ModelRegistry registry;
    private final ServerServiceDefinition[] services;
    private volatile HealthStatusManager health;
    private volatile Server server;
    private volatile ScheduledExecutorService healthUpdates;
    private volatile boolean terminal;

    public GrpcServer(GrpcProperties properties, int maxMessageSize, ModelRegistry registry, ServerServiceDefinition... services) {
        this.properties = properties;
        this.maxMessageSize = maxMessageSize;
        this.registry = registry;
        this.services = services;
    }

    /** Starts serving; also after a stop, as Spring's test framework pauses and resumes idle contexts. */
    @Override
    public void start() {
        // a stopped manager stays NOT_SERVING for good, so every start gets a fresh one
        health = new HealthStatusManager();
        terminal = false;
        NettyServerBuilder builder = NettyServerBuilder.forPort(properties.port())
                .maxInboundMessageSize(maxMessageSize)
                // handlers only translate and hand work to the stage pools, so they run on the transport threads
                .directExecutor()
                // a Check reads the registry at the call; Watch streams follow the half-second updates
                .addService(ServerInterceptors.intercept(health.getHealthService(), new ServerInterceptor() {
                    @Override
                    public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
                                                                       ServerCallHandler<Q, A> next) {
                        updateHealth();
                        return next.startCall(call, headers);
                    }
                }))
                .addService(ProtoReflectionServiceV1.newInstance());
        for (ServerServiceDefinition service : services) {
            builder.addService(service);
        }
        updateHealth();
        try {
            server = builder.build().start();
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot serve gRPC on port " + properties.port() + " (igate.grpc.port)", e);
        }
        healthUpdates = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "igate-grpc-health");
            t.setDaemon(true);
            return t;
        });
        // models load, reload and unload at run time; health follows within half a second
        healthUpdates.scheduleWithFixedDelay(this::updateHealth, 500, 500, TimeUnit.MILLISECONDS);
        log.info("gRPC (V2 inference, explain, health, reflection) on port {}", server.getPort());
    }

    private void updateHealth() {
        if (terminal) {
            return;
        }
        ServingStatus status = registry.allReady() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
        for (String service : SERVICES) {
            health.setStatus(service, status);
        }
    }

    /** The port gRPC listens on, once started (the chosen one when configured as 0). */
    public int port() {
        Server s = server;
        if (s == null) {
            throw new IllegalStateException("The gRPC server is not running");
        }
        return s.getPort();
    }

    @Override
    public void stop() {
        stop(() -> { });
    }

    /**
     * Refuses new calls at once and lets the calls in flight finish, alongside the HTTP server's
     * graceful shutdown, then tells Spring it is done.
     */
    @Override
    public void stop(Runnable done) {
        Server s = server;
        if (s == null) {
            done.run();
            return;
        }
        healthUpdates.shutdownNow();
        terminal = true;
        health.enterTerminalState();
        s.shutdown();
        Thread drain = new Thread(() -> {
            try {
                if (!s.awaitTermination(properties.shutdownGrace().toMillis(), TimeUnit.MILLISECONDS)) {
                    log.warn("gRPC calls still running after {}; cancelling them", properties.shutdownGrace());
                    s.shutdownNow();
                }
            } catch (InterruptedException e) {
                s.shutdownNow();
                Thread.currentThread().interrupt();
            } finally {
                if (server == s) {
                    server = null;
                }
                done.run();
            }
        }, "igate-grpc-drain");
        drain.start();
    }

    @Override
    public boolean isRunning() {
        return server != null;
    }

    /**
     * The phase of the web server's graceful shutdown: started after the model registry and the
     * web server, drained together with HTTP, before the registry closes.
     */
    @Override
    public int getPhase() {
        return SmartLifecycle.DEFAULT_PHASE - 1024;
    }
}
