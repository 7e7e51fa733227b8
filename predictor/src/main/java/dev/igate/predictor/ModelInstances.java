package dev.igate.predictor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

/**
 * The ONNX Runtime sessions of one model version laid out by an {@link InstanceLayout}: one
 * session per instance (or one shared by all of them), and the solo session when the layout
 * has one. Who may run what, and when, is the scheduler's business (the dynamic batcher behind a
 * device gate); this class only owns the sessions.
 */
public final class ModelInstances implements AutoCloseable {

    /** Opens one session of the model with the given settings. Blocking. */
    @FunctionalInterface
    public interface Opener {
        OnnxModel open(SessionSettings settings) throws ModelLoadException;
    }

    private final InstanceLayout layout;
    private final List<OnnxModel> instances;
    private final OnnxModel solo;

    private ModelInstances(InstanceLayout layout, List<OnnxModel> instances, OnnxModel solo) {
        this.layout = layout;
        this.instances = List.copyOf(instances);
        this.solo = solo;
    }

    /**
     * Opens every session of the layout. Blocking. Instance sessions get the layout's thread
     * count and the base settings' spinning choice; the solo session spins within its runs.
     *
     * @throws ModelLoadException when a session cannot be opened (those already open are closed)
     */
    public static ModelInstances open(InstanceLayout layout, SessionSettings base, Opener opener) throws ModelLoadException {
        List<OnnxModel> opened = new ArrayList<>();
        try {
            SessionSettings each = base.withThreads(layout.threads(), base.allowSpinning());
            List<OnnxModel> instances = new ArrayList<>();
            for (int i = 0; i < layout.instances(); i++) {
                if (layout.shared() && i > 0) {
                    instances.add(instances.get(0));
                } else {
                    OnnxModel session = opener.open(each);
                    opened.add(session);
                    instances.add(session);
                }
            }
            OnnxModel solo = null;
            if (layout.soloThreads() > 0) {
                solo = opener.open(base.withThreads(layout.soloThreads(), true));
                opened.add(solo);
            }
            return new ModelInstances(layout, instances, solo);
        } catch (ModelLoadException | RuntimeException e) {
            opened.forEach(OnnxModel::close);
            throw e;
        }
    }

    /** A single session as an instance group of one (no solo): for tools, tests and helper models. */
    public static ModelInstances single(OnnxModel session) {
        return new ModelInstances(InstanceLayout.SINGLE, List.of(session), null);
    }

    public InstanceLayout layout() {
        return layout;
    }

    /** Runs in flight at once. */
    public int count() {
        return instances.size();
    }

    /** The session of instance {@code i} (0 ≤ i &lt; {@link #count()}). */
    public OnnxModel instance(int i) {
        return instances.get(i);
    }

    /** The solo session, or null when the layout has none. */
    public OnnxModel solo() {
        return solo;
    }

    /** Any one session: they all have the same inputs, outputs and provider. */
    public OnnxModel first() {
        return instances.get(0);
    }

    /** Every distinct session, instances first, then the solo session: for warm-up. */
    public List<OnnxModel> sessions() {
        Set<OnnxModel> distinct = Collections.newSetFromMap(new IdentityHashMap<>());
        List<OnnxModel> out = new ArrayList<>();
        for (OnnxModel m : instances) {
            if (distinct.add(m)) {
                out.add(m);
            }
        }
        if (solo != null) {
            out.add(solo);
        }
        return out;
    }

    @Override
    public void close() {
        sessions().forEach(OnnxModel::close);
    }
}
