package dev.igate.gateway.grpc;

import dev.igate.gateway.routing.RevisionMetrics;
import dev.igate.gateway.routing.RevisionWeights;
import dev.igate.gateway.serving.ExplainService;
import dev.igate.gateway.serving.ServingMetrics;
import dev.igate.grpc.GrpcCodec;
import dev.igate.grpc.v2.GRPCExplainServiceGrpc;
import dev.igate.grpc.v2.ModelInferRequest;
import dev.igate.grpc.v2.ModelInferResponse;
import dev.igate.protocol.InferenceRequest;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.v2.TextInputs;
import io.grpc.stub.StreamObserver;
import reactor.core.publisher.Mono;

/**
 * igate.GRPCExplainService: integrated-gradients explanations over gRPC (igate_explain.proto).
 * The request is a ModelInfer request with one BYTES input of texts; the work runs on the
 * explainer's own bounded pool, as REST explanations do. Without model_version the call follows
 * the canary weights of the model's V2 explain routes.
 */
public class ExplainGrpcHandler extends GRPCExplainServiceGrpc.GRPCExplainServiceImplBase {

    private final ExplainService explainer;
    private final ServingMetrics metrics;
    private final RevisionWeights weights;
    private final RevisionMetrics revisions;

    public ExplainGrpcHandler(ExplainService explainer, ServingMetrics metrics, RevisionWeights weights, RevisionMetrics revisions) {
        this.explainer = explainer;
        this.metrics = metrics;
        this.weights = weights;
        this.revisions = revisions;
    }

    @Override
    public void modelExplain(ModelInferRequest request, StreamObserver<ModelInferResponse> observer) {
        InferenceGrpcHandler.call(observer, "ModelExplain", metrics, request.getModelName(), request.getModelVersion(),
                "grpc_explain", Mono.fromCallable(() -> InferenceGrpcHandler.Routed.of(GrpcCodec.decodeInfer(request), weights, "explain"))
                        .flatMap(routed -> revisions.recorded(routed.revision(), explain(routed.request()))),
                ModelInferResponse::getModelVersion);
    }

    private Mono<ModelInferResponse> explain(InferenceRequest r) {
        if (r.inputs().size() != 1) {
            return Mono.error(new InvalidInputException("Explain takes exactly one BYTES input of texts, got " + r.inputs().size()));
        }
        return explainer.explain(r.model(), r.version(), TextInputs.texts(r.inputs().get(0)), r.parameters())
                .map(result -> GrpcCodec.encodeExplain(r.id(), result.model(), result.version(), result.explanations()));
    }
}
