package dev.igate.gateway.grpc;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import dev.igate.gateway.GrpcProperties;
import dev.igate.gateway.model.ModelRegistry;
import dev.igate.grpc.v2.GRPCExplainServiceGrpc;
import dev.igate.grpc.v2.GRPCInferenceServiceGrpc;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
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
 * <p>Starts after the model registry and stops before it: on stop, health turns NOT_SERVING and
 * health Watch streams end, new calls are refused, and calls in flight get
 * {@code igate.grpc.shutdown-grace} to finish. It can start again after a stop (Spring's test
 * framework pauses and resumes idle contexts).
 */
public class GrpcServer implements SmartLifecycle {

    private static final Logger log = LoggerFactory.getLogger(GrpcServer.class);
    private static final String[] SERVICES = {"", GRPCInferenceServiceGrpc.SERVICE_NAME, GRPCExplainServiceGrpc.SERVICE_NAME};

    private final GrpcProperties properties;
    private final int maxMessageSize;
    private final ModelRegistry registry;
    private final ServerServiceDefinition[] services;
    private final Object lifecycle = new Object();
    /** Open health Watch calls: they never end on their own, so stop ends them. */
    private final Set<ServerCall<?, ?>> watches = ConcurrentHashMap.newKeySet();
    private volatile boolean running;
    private Server server;
    private HealthStatusManager health;
    private ScheduledExecutorService healthUpdates;

    public GrpcServer(GrpcProperties properties, int maxMessageSize, ModelRegistry registry, ServerServiceDefinition... services) {
        this.properties = properties;
        this.maxMessageSize = maxMessageSize;
        this.registry = registry;
        this.services = services;
    }

    @SuppressWarnings("deprecation")
    private static io.grpc.BindableService alphaReflection() {
        return io.grpc.protobuf.services.ProtoReflectionService.newInstance();
    }

    @Override
    public void start() {
        synchronized (lifecycle) {
            if (running) {
                return;
            }
            // a stopped manager stays NOT_SERVING for good, so every start gets a fresh one
            HealthStatusManager manager = new HealthStatusManager();
            NettyServerBuilder builder = NettyServerBuilder.forPort(properties.port())
                    .maxInboundMessageSize(maxMessageSize)
                    // handlers only translate and hand work to the stage pools, so they run on the transport threads
                    .directExecutor()
                    .addService(ServerInterceptors.intercept(manager.getHealthService(), new HealthCalls(manager)))
                    .addService(ProtoReflectionServiceV1.newInstance())
                    // v1alpha too: Postman, Kreya, Evans and older grpcurl speak only that one
                    .addService(alphaReflection());
            for (ServerServiceDefinition service : services) {
                builder.addService(service);
            }
            updateHealth(manager);
            try {
                server = builder.build().start();
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot serve gRPC on port " + properties.port() + " (igate.grpc.port)", e);
            }
            health = manager;
            healthUpdates = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "igate-grpc-health");
                t.setDaemon(true);
                return t;
            });
            // models load, reload and unload at run time; Watch streams follow within half a second
            healthUpdates.scheduleWithFixedDelay(() -> updateHealth(manager), 500, 500, TimeUnit.MILLISECONDS);
            running = true;
            log.info("gRPC (V2 inference, explain, health, reflection) on port {}", server.getPort());
        }
    }

    private void updateHealth(HealthStatusManager manager) {
        try {
            ServingStatus status = registry.serverReady() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
            for (String service : SERVICES) {
                // ignored once the manager has entered its terminal state
                manager.setStatus(service, status);
            }
        } catch (RuntimeException e) {
            // a failure must not end the scheduled updates for good
            log.warn("Could not update gRPC health", e);
        }
    }

    /** The port gRPC listens on, once started (the chosen one when configured as 0). */
    public int port() {
        synchronized (lifecycle) {
            if (!running) {
                throw new IllegalStateException("The gRPC server is not running");
            }
            return server.getPort();
        }
    }

    /** Stops as {@link #stop(Runnable)} does, and returns when the server has terminated. */
    @Override
    public void stop() {
        CountDownLatch done = new CountDownLatch(1);
        stop(done::countDown);
        try {
            done.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Refuses new calls at once and lets the calls in flight finish, alongside the HTTP server's
     * graceful shutdown, then tells Spring it is done.
     */
    @Override
    public void stop(Runnable done) {
        Server s;
        synchronized (lifecycle) {
            if (!running) {
                done.run();
                return;
            }
            running = false;
            s = server;
            healthUpdates.shutdownNow();
            health.enterTerminalState();
            s.shutdown();
            // the terminal NOT_SERVING has been sent to every watcher; their streams would hold the drain open
            for (ServerCall<?, ?> watch : watches) {
                watch.close(Status.UNAVAILABLE.withDescription("The server is shutting down"), new Metadata());
            }
            watches.clear();
        }
        Thread drain = new Thread(() -> {
            try {
                if (!s.awaitTermination(properties.shutdownGrace().toMillis(), TimeUnit.MILLISECONDS)) {
                    log.warn("gRPC calls still running after {}; cancelling them", properties.shutdownGrace());
                    s.shutdownNow();
                    s.awaitTermination(2, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                s.shutdownNow();
                Thread.currentThread().interrupt();
            } finally {
                done.run();
            }
        }, "igate-grpc-drain");
        drain.start();
    }

    @Override
    public boolean isRunning() {
        return running;
    }

    /**
     * The phase of the web server's graceful shutdown: started after the model registry and the
     * web server, drained together with HTTP, before the registry closes.
     */
    @Override
    public int getPhase() {
        return SmartLifecycle.DEFAULT_PHASE - 1024;
    }

    /** Brings Check answers up to date at the call, and keeps track of open Watch streams. */
    private final class HealthCalls implements ServerInterceptor {

        private final HealthStatusManager manager;

        HealthCalls(HealthStatusManager manager) {
            this.manager = manager;
        }

        @Override
        public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers, ServerCallHandler<Q, A> next) {
            updateHealth(manager);
            if (!call.getMethodDescriptor().getFullMethodName().equals(HealthGrpc.getWatchMethod().getFullMethodName())) {
                return next.startCall(call, headers);
            }
            watches.add(call);
            return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(next.startCall(call, headers)) {
                @Override
                public void onCancel() {
                    watches.remove(call);
                    super.onCancel();
                }

                @Override
                public void onComplete() {
                    watches.remove(call);
                    super.onComplete();
                }
            };
        }
    }
}
