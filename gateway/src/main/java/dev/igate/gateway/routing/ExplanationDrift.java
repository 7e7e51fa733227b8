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
}
