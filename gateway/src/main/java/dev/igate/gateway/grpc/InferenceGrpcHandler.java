package dev.igate.gateway.grpc;

import dev.igate.gateway.serving.DataPlane;

import java.util.List;
import java.util.function.Supplier;

import dev.igate.gateway.model.ModelRegistry;
import dev.igate.gateway.serving.InferenceService;
import dev.igate.gateway.web.V2Handler;
import dev.igate.grpc.GrpcCodec;
import dev.igate.grpc.v2.GRPCInferenceServiceGrpc;
import dev.igate.grpc.v2.ModelInferRequest;
import dev.igate.grpc.v2.ModelInferResponse;
import dev.igate.grpc.v2.ModelMetadataRequest;
import dev.igate.grpc.v2.ModelMetadataResponse;
import dev.igate.grpc.v2.ModelReadyRequest;
import dev.igate.grpc.v2.ModelReadyResponse;
import dev.igate.grpc.v2.ServerLiveRequest;
import dev.igate.grpc.v2.ServerLiveResponse;
import dev.igate.grpc.v2.ServerMetadataRequest;
import dev.igate.grpc.v2.ServerMetadataResponse;
import dev.igate.grpc.v2.ServerReadyRequest;
import dev.igate.grpc.v2.ServerReadyResponse;
import dev.igate.gateway.tracing.RequestTrace;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import reactor.core.Disposable;
import reactor.core.Disposables;
import reactor.core.publisher.Mono;

/**
 * inference.GRPCInferenceService: the V2 protocol over gRPC. Like {@link V2Handler} it only
 * translates, here with {@link GrpcCodec}; ModelInfer goes through the same
 * {@link DataPlane} as REST (revision choice, counting, limits, cache), so its rows join the same
 * dynamic batcher. Calls run on the
 * gRPC transport threads and never block them: the work is handed to the stage pools and the
 * answer is sent when it completes. A cancelled call (client gone, deadline passed) leaves the
 * batcher's queue.
 */
public class InferenceGrpcHandler extends GRPCInferenceServiceGrpc.GRPCInferenceServiceImplBase {

    /** The same extensions as REST's {@code GET /v2}. */
    public static final List<String> EXTENSIONS = V2Handler.EXTENSIONS;

    private final ModelRegistry registry;
    private final DataPlane plane;
    private final InferenceService service;
    private final dev.igate.gateway.routing.AdminToken token;

    private final dev.igate.gateway.tracing.Tracing tracing;

    public InferenceGrpcHandler(ModelRegistry registry, DataPlane plane, InferenceService service, dev.igate.gateway.routing.AdminToken token,
                                dev.igate.gateway.tracing.Tracing tracing) {
        this.tracing = tracing;
        this.token = token;
        this.registry = registry;
        this.plane = plane;
        this.service = service;
    }

    @Override
    public void serverLive(ServerLiveRequest request, StreamObserver<ServerLiveResponse> observer) {
        unary(observer, "ServerLive", () -> ServerLiveResponse.newBuilder().setLive(true).build());
    }

    @Override
    public void serverReady(ServerReadyRequest request, StreamObserver<ServerReadyResponse> observer) {
        unary(observer, "ServerReady", () -> ServerReadyResponse.newBuilder().setReady(plane.serverReady()).build());
    }

    /**
     * ready=false for a version loading, failed, unloaded or unknown alike, as Triton answers and as
     * REST's model-ready answers 400 with {@code "ready": false}.
     */
    @Override
    public void modelReady(ModelReadyRequest request, StreamObserver<ModelReadyResponse> observer) {
        unary(observer, "ModelReady", () -> ModelReadyResponse.newBuilder()
                .setReady(plane.readiness(request.getName(), emptyToNull(request.getVersion())).ready()).build());
    }

    @Override
    public void serverMetadata(ServerMetadataRequest request, StreamObserver<ServerMetadataResponse> observer) {
        unary(observer, "ServerMetadata", () -> ServerMetadataResponse.newBuilder()
                .setName(V2Handler.SERVER_NAME).setVersion(V2Handler.SERVER_VERSION).addAllExtensions(EXTENSIONS).build());
    }

    @Override
    public void modelMetadata(ModelMetadataRequest request, StreamObserver<ModelMetadataResponse> observer) {
        unary(observer, "ModelMetadata", () -> GrpcCodec.encodeMetadata(
                plane.metadata(request.getName(), emptyToNull(request.getVersion()))));
    }

    /**
     * Typed or raw tensors in; the answer mirrors the request (raw in, raw out) unless binary_data
     * asks for raw. Without model_version the call follows the model's canary weights.
     */
    @Override
    public void modelInfer(ModelInferRequest request, StreamObserver<ModelInferResponse> observer) {
        call(observer, "ModelInfer", serverSpan(tracing, "GRPCInferenceService", "ModelInfer"),
                plane.infer(origin("grpc_infer"), request.getModelName(), emptyToNull(request.getModelVersion()),
                Mono.fromCallable(() -> {
                    // refused before the tensors are allocated, not after
                    service.checkElements(GrpcCodec.declaredElements(request));
                    return GrpcCodec.decodeInfer(request);
                })).transform(plane.encoded(a -> GrpcCodec.encodeInfer(a.response(), !a.request().binaryOutputs().isEmpty()))));
    }

    /**
     * Where a call comes from: a call without a version follows the canary weights of the model's
     * V2 routes, sticky by its {@code x-session-id} metadata as REST is by X-Session-Id (read here,
     * on the call's thread, where gRPC's context holds it).
     */
    static DataPlane.Origin origin(String endpoint) {
        return DataPlane.Origin.weighted(endpoint, SessionIdInterceptor.SESSION_ID.get());
    }

    static String emptyToNull(String s) {
        return s == null || s.isEmpty() ? null : s;
    }

    /** Answers a call that reads in-memory state only. */
    /** Triton's statistics extension: every loaded version's, a model's, or one version's. */
    @Override
    public void modelStatistics(dev.igate.grpc.v2.ModelStatisticsRequest request,
                                StreamObserver<dev.igate.grpc.v2.ModelStatisticsResponse> observer) {
        unary(observer, "ModelStatistics", () -> {
            dev.igate.grpc.v2.ModelStatisticsResponse.Builder b = dev.igate.grpc.v2.ModelStatisticsResponse.newBuilder();
            registry.statistics(emptyToNull(request.getName()), emptyToNull(request.getVersion()))
                    .forEach(s -> b.addModelStats(s.toProto()));
            return b.build();
        });
    }

    /** Triton's model configuration extension. */
    @Override
    public void modelConfig(dev.igate.grpc.v2.ModelConfigRequest request, StreamObserver<dev.igate.grpc.v2.ModelConfigResponse> observer) {
        unary(observer, "ModelConfig", () -> dev.igate.grpc.v2.ModelConfigResponse.newBuilder()
                .setConfig(dev.igate.gateway.model.TritonViews.config(registry.resolve(request.getName(),
                        emptyToNull(request.getVersion())))).build());
    }

    /** Triton's repository index, behind the admin bearer token (authorization metadata). */
    @Override
    public void repositoryIndex(dev.igate.grpc.v2.RepositoryIndexRequest request,
                                StreamObserver<dev.igate.grpc.v2.RepositoryIndexResponse> observer) {
        String authorization = SessionIdInterceptor.AUTHORIZATION.get();
        offEventLoop(observer, "RepositoryIndex", () -> {
            token.check(authorization);
            dev.igate.grpc.v2.RepositoryIndexResponse.Builder b = dev.igate.grpc.v2.RepositoryIndexResponse.newBuilder();
            registry.index(request.getReady()).forEach(e -> b.addModels(e.toProto()));
            return b.build();
        });
    }

    /** Triton's model load: loads or reloads a model from the repository, behind the admin bearer token. */
    @Override
    public void repositoryModelLoad(dev.igate.grpc.v2.RepositoryModelLoadRequest request,
                                    StreamObserver<dev.igate.grpc.v2.RepositoryModelLoadResponse> observer) {
        String authorization = SessionIdInterceptor.AUTHORIZATION.get();
        offEventLoop(observer, "RepositoryModelLoad", () -> {
            token.check(authorization);
            if (request.getParametersCount() > 0) {
                throw new dev.igate.protocol.InvalidInputException("Load parameters (a config override, model files) are not"
                        + " supported: igate loads the model's files from its repository");
            }
            registry.reload(request.getModelName());
            return dev.igate.grpc.v2.RepositoryModelLoadResponse.getDefaultInstance();
        });
    }

    /** Triton's model unload: queued work finishes, then the sessions close; behind the admin bearer token. */
    @Override
    public void repositoryModelUnload(dev.igate.grpc.v2.RepositoryModelUnloadRequest request,
                                      StreamObserver<dev.igate.grpc.v2.RepositoryModelUnloadResponse> observer) {
        String authorization = SessionIdInterceptor.AUTHORIZATION.get();
        offEventLoop(observer, "RepositoryModelUnload", () -> {
            token.check(authorization);
            registry.unload(request.getModelName());
            return dev.igate.grpc.v2.RepositoryModelUnloadResponse.getDefaultInstance();
        });
    }

    /** Work that blocks (file reads, session loads and closes) runs on a worker, never on a transport thread. */
    private static <T> void offEventLoop(StreamObserver<T> observer, String method, java.util.concurrent.Callable<T> work) {
        reactor.core.publisher.Mono.fromCallable(work).subscribeOn(reactor.core.scheduler.Schedulers.boundedElastic())
                .subscribe(value -> {
                    observer.onNext(value);
                    observer.onCompleted();
                }, e -> observer.onError(GrpcStatus.of(e, method)));
    }

    static <T> void unary(StreamObserver<T> observer, String method, Supplier<T> answer) {
        T value;
        try {
            value = answer.get();
        } catch (RuntimeException e) {
            observer.onError(GrpcStatus.of(e, method));
            return;
        }
        observer.onNext(value);
        observer.onCompleted();
    }

    /**
     * Subscribes to the work of a call (the data plane counts it), answers when it completes, and
     * drops the work if the client cancels.
     */
    static <T> void call(StreamObserver<T> observer, String method, RequestTrace trace, Mono<T> work) {
        // the cancel handler has to be set before the call method returns; a cancel that comes
        // before the subscription exists disposes it as soon as it is set
        Disposable.Swap subscription = Disposables.swap();
        if (observer instanceof ServerCallStreamObserver<T> server) {
            server.setOnCancelHandler(() -> {
                subscription.dispose();
                trace.end(new java.util.concurrent.CancellationException("the client cancelled the call"));
            });
        }
        // every stage answers with a value or an error; should one ever complete empty, the call must still end
        subscription.update(work.switchIfEmpty(Mono.error(() -> new IllegalStateException(method + " produced no answer")))
                .contextWrite(context -> trace == RequestTrace.NONE ? context : context.put(RequestTrace.class, trace))
                .subscribe(
                        value -> {
                            observer.onNext(value);
                            observer.onCompleted();
                            trace.end(null);
                        },
                        error -> {
                            io.grpc.StatusRuntimeException status = GrpcStatus.of(error, method);
                            observer.onError(status);
                            trace.tag("rpc.grpc.status_code", Integer.toString(status.getStatus().getCode().value()));
                            trace.end(error);
                        }));
    }

    /**
     * The server span of a call, continuing the caller's trace context ({@code traceparent} and
     * {@code tracestate} metadata), with OpenTelemetry's rpc attributes; read on the call's thread,
     * where gRPC's context holds the metadata.
     */
    static RequestTrace serverSpan(dev.igate.gateway.tracing.Tracing tracing, String service, String method) {
        if (!tracing.on()) {
            return RequestTrace.NONE;
        }
        java.util.Map<String, String> carrier = SessionIdInterceptor.TRACE_CONTEXT.get();
        return tracing.start("inference." + service + "/" + method, io.micrometer.tracing.Span.Kind.SERVER,
                carrier == null ? java.util.Map.of() : carrier, "rpc.system", "grpc", "rpc.service", "inference." + service,
                "rpc.method", method);
    }
}
