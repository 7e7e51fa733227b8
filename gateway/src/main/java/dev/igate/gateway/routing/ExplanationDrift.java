package dev.igate.gateway.routing;

import java.util.Optional;

/**
 * How far a canary's explanations drift from the stable revision's on the same inputs, as the
 * sampling of the serving layer measures it: what {@link CanaryGuard}'s explanation rule judges.
 */
public interface ExplanationDrift {

    /**
     * The recent comparisons of a model's two revisions whose labels agreed.
     *
     * @param samples     how many
     * @param meanOverlap their mean top-k word overlap (1: the same top words)
     */
    record Summary(int samples, double meanOverlap) {
    }

    /** The model's recent label-agreeing comparisons, or empty when none were made. */
    Optional<Summary> recent(String model);

    /** Forgets a model's comparisons (its canary was rolled back or replaced). */
    void forget(String model);

    /**
     * A call a {@code Shadow} filter mirrored, answered by both: compared (when sampled) where the
     * route's target and the shadow's are both model versions of this server.
     *
     * @param primary the route's target, as {@code forward:/v1/models/{m}/versions/{v}:predict} or a V2 infer path
     * @param shadow  the shadow's target, likewise
     * @param body    the request as the client sent it
     */
    default void shadowed(String routeId, String primary, String shadow, byte[] body) {
    }
}
