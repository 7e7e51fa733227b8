package dev.igate.predictor.batching;

/**
 * Where a batch runs: on instance {@code instance} of the model version's layout, or on its solo
 * session (the whole device, for a lone batch on an idle device).
 *
 * @param instance the instance index, or -1 for the solo session
 */
public record Placement(int instance) {

    /** The solo session. */
    public static final Placement SOLO = new Placement(-1);

    public boolean solo() {
        return instance < 0;
    }

    /** "0", "1", … or "solo": the label of metrics per instance. */
    public String label() {
        return solo() ? "solo" : Integer.toString(instance);
    }
}
