package dev.igate.gateway.grpc;

import dev.igate.gateway.serving.DataPlane;

import dev.igate.grpc.GrpcCodec;
import dev.igate.grpc.v2.GRPCExplainServiceGrpc;
import dev.igate.grpc.v2.ModelInferRequest;
import dev.igate.grpc.v2.ModelInferResponse;
import io.grpc.stub.StreamObserver;
import reactor.core.publisher.Mono;

/**
 * igate.GRPCExplainService: integrated-gradients explanations over gRPC (igate_explain.proto).
 * The request is a ModelInfer request with one BYTES input of texts; the work runs on the
 * explainer's own bounded pool, as REST explanations do. Without model_version the call follows
 * the canary weights of the model's V2 explain routes.
 */
public class ExplainGrpcHandler extends GRPCExplainServiceGrpc.GRPCExplainServiceImplBase {

    private final DataPlane plane;
    private final dev.igate.gateway.tracing.Tracing tracing;

    public ExplainGrpcHandler(DataPlane plane, dev.igate.gateway.tracing.Tracing tracing) {
        this.plane = plane;
        this.tracing = tracing;
    }

    @Override
    public void modelExplain(ModelInferRequest request, StreamObserver<ModelInferResponse> observer) {
        InferenceGrpcHandler.call(observer, "ModelExplain", InferenceGrpcHandler.serverSpan(tracing, "GRPCExplainService", "ModelExplain"),
                plane.explainRequest(InferenceGrpcHandler.origin("grpc_explain"),
                        request.getModelName(), InferenceGrpcHandler.emptyToNull(request.getModelVersion()),
                        Mono.fromCallable(() -> GrpcCodec.decodeInfer(request)))
                .map(e -> GrpcCodec.encodeExplain(e.request().id(), e.result().model(), e.result().version(), e.result().explanations())));
    }
}
