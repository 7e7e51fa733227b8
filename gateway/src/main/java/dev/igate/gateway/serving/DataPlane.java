package dev.igate.gateway.serving;

import java.util.List;
import java.util.Map;
import java.util.function.Function;

import dev.igate.gateway.model.ModelRegistry;
import dev.igate.gateway.model.VersionState;
import dev.igate.gateway.routing.Revision;
import dev.igate.gateway.routing.RevisionMetrics;
import dev.igate.gateway.routing.RevisionWeights;
import dev.igate.gateway.http.ErrorStatus;
import dev.igate.gateway.tracing.RequestTrace;
import dev.igate.gateway.tracing.Tracing;
import dev.igate.protocol.InferenceException;
import dev.igate.protocol.InferenceRequest;
import dev.igate.protocol.InferenceResponse;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.ModelMetadata;
import dev.igate.protocol.ModelNotFoundException;
import dev.igate.protocol.ModelNotReadyException;
import dev.igate.protocol.TextRows;
import dev.igate.protocol.v2.TextInputs;
import org.springframework.stereotype.Service;
import reactor.core.publisher.Mono;

/**
 * The data plane every transport calls, as KServe's {@code DataPlane} is: REST V1 and V2, gRPC and
 * Kafka decode and encode, and nothing else. Here, once for all of them: the revision a call that
 * names no version goes to (the canary weights of the model's routes, sticky by the caller's
 * session or the record's key; REST's routes choose before a call reaches this), the revision
 * metrics the automatic rollback judges, counting in {@code igate_requests_total} (decoding errors
 * included: a transport hands its decoding over as the work's first step), readiness, metadata;
 * and, through {@link InferenceService} and {@link ExplainService}, limits, admission, the response
 * cache and payload logging.
 */
@Service
public class DataPlane {

    /**
     * Where a call comes from.
     *
     * @param endpoint the {@code endpoint} tag it is counted under ({@code v2_infer}, {@code grpc_infer},
     *                 {@code kafka_infer}, ...)
     * @param sticky   what keeps one caller on one revision (a session id, a record key), or null
     * @param routed   whether the revision was chosen before the call got here (REST's gateway routes)
     * @param retrying whether the transport tries a call again itself after a passing refusal (a full
     *                 queue, a version loading: Kafka): such an attempt is not an answer, so it is neither
     *                 counted nor judged; the attempt that answers is
     */
    public record Origin(String endpoint, String sticky, boolean routed, boolean retrying) {

        /** A call the gateway's routes already sent to a revision (REST). */
        public static Origin routed(String endpoint) {
            return new Origin(endpoint, null, true, false);
        }

        /** A call whose revision the canary weights choose here (gRPC), sticky by {@code sticky}. */
        public static Origin weighted(String endpoint, String sticky) {
            return new Origin(endpoint, sticky, false, false);
        }

        /** As {@link #weighted}, from a transport that tries again after a passing refusal (Kafka). */
        public static Origin retrying(String endpoint, String sticky) {
            return new Origin(endpoint, sticky, false, true);
        }

        /** Whether this error ends the call here (counted and judged), rather than being tried again by the transport. */
        boolean answers(Throwable error) {
            return !(retrying && ErrorStatus.unwrap(error) instanceof InferenceException refused && refused.retryable());
        }
    }

    /** Texts (pairs of texts) and the request's parameters, as a V1 body carries them. */
    public record Texts(TextRows rows, Map<String, Object> parameters) {
    }

    /** An explained V2 (or gRPC) request: the request as it was decoded, and its explanations. */
    public record Explained(InferenceRequest request, ExplainService.Result result) {
    }

    /** An answered V2 infer: the request as it was decoded (its outputs' encodings), and the answer. */
    public record Answered(InferenceRequest request, InferenceResponse response) {
    }

    private final ModelRegistry registry;
    private final InferenceService inference;
    private final ExplainService explainer;
    private final ServingMetrics metrics;
    private final RevisionWeights weights;
    private final RevisionMetrics revisions;
    private final ExplanationDriftMonitor drift;

    private final Tracing tracing;

    public DataPlane(ModelRegistry registry, InferenceService inference, ExplainService explainer, ServingMetrics metrics,
                     RevisionWeights weights, RevisionMetrics revisions, ExplanationDriftMonitor drift, Tracing tracing) {
        this.tracing = tracing;
        this.drift = drift;
        this.registry = registry;
        this.inference = inference;
        this.explainer = explainer;
        this.metrics = metrics;
        this.weights = weights;
        this.revisions = revisions;
    }

    /** A V2 infer: {@code decoded} is the transport's decoding of the call (body read included), run as the first step. */
    public Mono<Answered> infer(Origin origin, String model, String version, Mono<InferenceRequest> decoded) {
        return counted(origin, model, version, a -> a.response().version(), decoded.flatMap(request -> {
            Choice choice = choose(origin, model, request.version(), "infer");
            Revision revision = choice.revision();
            InferenceRequest routed = revision == null ? request : withVersion(request, revision.version());
            return recorded(origin, choice, inference.infer(routed).map(response -> new Answered(routed, response)))
                    .doOnSuccess(a -> {
                        if (a != null && drift.enabled() && TextInputs.areTexts(routed.inputs())) {
                            drift.answered(model, TextInputs.rows(routed.inputs()));
                        }
                    });
        }));
    }

    /** A V1 predict of texts, with the request's parameters (a task's options). */
    public Mono<Classification> predict(Origin origin, String model, String version, Mono<Texts> decoded) {
        return counted(origin, model, version, Classification::version, decoded.flatMap(t -> {
            Choice choice = choose(origin, model, version, "infer");
            Revision revision = choice.revision();
            return recorded(origin, choice, inference.classify(model, revision == null ? version : revision.version(), t.rows(),
                    t.parameters())).doOnSuccess(c -> drift.answered(model, t.rows()));
        }));
    }

    /** A V1 explain of texts. */
    public Mono<ExplainService.Result> explain(Origin origin, String model, String version, Mono<Texts> decoded) {
        return counted(origin, model, version, ExplainService.Result::version, decoded.flatMap(body -> {
            Choice choice = choose(origin, model, version, "explain");
            Revision revision = choice.revision();
            return recorded(origin, choice, explainer.explain(model, revision == null ? version : revision.version(),
                    body.rows(), body.parameters()));
        }));
    }

    /**
     * A V2 (or gRPC) explain: an infer request with one BYTES input of texts (or two, the second
     * {@code text_pair}), the explain parameters in its parameters.
     *
     * @throws InvalidInputException (in the Mono) for any other inputs
     */
    public Mono<Explained> explainRequest(Origin origin, String model, String version, Mono<InferenceRequest> decoded) {
        return counted(origin, model, version, e -> e.result().version(), decoded.flatMap(request -> {
            if (request.inputs().isEmpty() || request.inputs().size() > 2) {
                return Mono.error(new InvalidInputException("Explain takes one BYTES input of texts (and a second named "
                        + TextInputs.PAIR_INPUT + " for pairs), got " + request.inputs().size() + " inputs"));
            }
            Choice choice = choose(origin, model, request.version(), "explain");
            Revision revision = choice.revision();
            String served = revision == null ? request.version() : revision.version();
            return recorded(origin, choice, explainer.explain(model, served, TextInputs.rows(request.inputs()),
                    request.parameters()).map(result -> new Explained(request, result)));
        }));
    }

    /**
     * Whether a model version serves now; never throws: a version loading, failed, unloaded or
     * unknown is not ready, as the protocol's boolean answers it.
     */
    public Readiness readiness(String model, String version) {
        try {
            VersionState state = registry.state(model, version);
            String reason = state.reason() != null ? state.reason()
                    : state.status() == VersionState.Status.LOADING ? "Model " + model + " is loading" : null;
            return new Readiness(true, state.isReady(), state.isReady() ? null : reason != null ? reason : "Model " + model + " is not ready");
        } catch (ModelNotFoundException | ModelNotReadyException e) {
            return new Readiness(false, false, e.getMessage());
        }
    }

    /**
     * A version's readiness.
     *
     * @param known  whether the server has the model (a name it does not have is not echoed back)
     * @param ready  whether the version serves now
     * @param reason why it does not, or null
     */
    public record Readiness(boolean known, boolean ready, String reason) {
    }

    /** Whether the server is ready (every model serves, or with relaxed readiness, loading has finished). */
    public boolean serverReady() {
        return registry.serverReady();
    }

    /** V2 metadata of a model version. */
    public ModelMetadata metadata(String model, String version) {
        return registry.metadata(model, version);
    }

    /**
     * The revision a call to a model's {@code endpoint} ({@code infer}, {@code explain}) goes to when
     * it names no version and nothing chose one before: the canary weights', sticky by the caller;
     * null when it names one, was routed, or the model has no weighted routes (its default serves).
     */
    private Choice choose(Origin origin, String model, String version, String endpoint) {
        if (origin.routed() || version != null) {
            return Choice.NONE;
        }
        long start = System.nanoTime();
        return new Choice(weights.choose(model, endpoint, origin.sticky()), start, System.nanoTime());
    }

    /** The revision the weights chose for a call (null when none chose), and when. */
    private record Choice(Revision revision, long startNanos, long endNanos) {
        static final Choice NONE = new Choice(null, 0, 0);
    }

    /**
     * The work of a call the weights sent to a revision, recorded when it answers (nothing when none
     * chose); the choice is the call's igate.route span, as a REST call's routes make it.
     */
    private <T> Mono<T> recorded(Origin origin, Choice choice, Mono<T> work) {
        Revision revision = choice.revision();
        Mono<T> traced = revision == null || !tracing.on() ? work : work.transformDeferredContextual((w, context) -> {
            RequestTrace trace = tracing.of(context);
            trace.tag("igate.revision", revision.revision());
            trace.stage("igate.route", choice.startNanos(), choice.endNanos(), "igate.weight_group", revision.group(),
                    "igate.route", revision.routeId(), "igate.revision", revision.revision(), "igate.sticky", origin.sticky() != null);
            return w;
        });
        return revisions.recorded(revision, traced, origin::answers);
    }

    /**
     * Encodes an answer for its transport, the encoding a span of the request's trace: what a
     * transport maps its answer with ({@code .transform(plane.encoded(...))}).
     */
    public <T, R> Function<Mono<T>, Mono<R>> encoded(Function<T, R> encode) {
        if (!tracing.on()) {
            return answer -> answer.map(encode);
        }
        return answer -> answer.transformDeferredContextual((a, context) -> {
            RequestTrace trace = tracing.of(context);
            return a.map(value -> {
                long t0 = System.nanoTime();
                R encoded = encode.apply(value);
                trace.stage("igate.encode", t0, System.nanoTime());
                return encoded;
            });
        });
    }

    private static InferenceRequest withVersion(InferenceRequest r, String version) {
        return new InferenceRequest(r.id(), r.model(), version, r.inputs(), r.requestedOutputs(), r.parameters(), r.binaryOutputs(),
                r.classifications());
    }

    /**
     * Counts a call's answer in {@code igate_requests_total} when it comes: the version that served
     * it, or on an error the one it asked for.
     */
    public <T> Mono<T> counted(Origin origin, String model, String version, Function<T, String> servedVersion, Mono<T> work) {
        Mono<T> counted = work.doOnSuccess(value -> metrics.request(model, value == null ? version : servedVersion.apply(value),
                        origin.endpoint(), null))
                .doOnError(e -> {
                    if (origin.answers(e)) {
                        metrics.request(model, version, origin.endpoint(), e);
                    }
                });
        if (!tracing.on()) {
            return counted;
        }
        // the request's trace, for every stage below: the transport's span (REST's server observation, gRPC's, Kafka's)
        return Mono.deferContextual(context -> {
            RequestTrace trace = tracing.of(context);
            trace.tag("igate.model", model);
            trace.tag("igate.endpoint", origin.endpoint());
            return counted.doOnSuccess(value -> trace.tag("igate.version", value == null ? version : servedVersion.apply(value)))
                    .contextWrite(c -> c.put(RequestTrace.class, trace));
        });
    }
}
