package dev.igate.predictor;

/**
 * How one model version uses its device, as Triton's instance groups: {@code instances} runs can
 * be in flight at once, each with {@code threads} intra-op threads, and a lone run on an idle
 * device may take the solo session, which spans {@code soloThreads} threads with spinning on.
 *
 * <p>Measured on 2 cores with the demo model (BENCHMARKS.md): two 1-thread runs at once give the
 * most rows per second (1,064-1,118 at 16 tokens, against 826-909 for one 2-thread session),
 * while a lone request runs fastest on one 2-thread session whose threads spin within the run
 * (2.4-2.7 ms against 3.7-4.2 ms on one thread). So the throughput layout serves load and the
 * solo session serves a request that has the machine to itself.
 *
 * @param instances   runs in flight at once
 * @param threads     intra-op threads of each run
 * @param soloThreads intra-op threads of the solo session; 0 for none
 * @param shared      whether the instances share one session (weights held once): on a CPU with
 *                    one thread per run, ONNX Runtime runs each call on its caller's thread
 */
public record InstanceLayout(int instances, int threads, int soloThreads, boolean shared) {

    public InstanceLayout {
        if (instances < 1 || instances > 64) {
            throw new IllegalArgumentException("instances must be between 1 and 64, was " + instances);
        }
        if (threads < 1 || soloThreads < 0) {
            throw new IllegalArgumentException("thread counts must be positive (solo: 0 for none)");
        }
    }

    /** One instance with one thread and no solo session: for tests and small helper models. */
    public static final InstanceLayout SINGLE = new InstanceLayout(1, 1, 0, true);

    /**
     * The layout for a device, each null argument chosen automatically: on a CPU with {@code cores}
     * cores, one thread per instance and one instance per core, and a solo session on all cores
     * when a single run would otherwise use fewer; on CUDA, one instance (Triton's default for a
     * GPU) and no solo session.
     */
    public static InstanceLayout resolve(ExecutionProvider provider, int cores, Integer instances, Integer threads,
                                         Integer soloThreads) {
        if (cores < 1) {
            throw new IllegalArgumentException("cores must be positive, was " + cores);
        }
        if (provider == ExecutionProvider.CUDA) {
            int k = instances != null ? instances : 1;
            int t = threads != null ? threads : 1;
            return new InstanceLayout(k, t, soloThreads != null ? soloThreads : 0, false);
        }
        int t;
        int k;
        if (instances == null && threads == null) {
            t = 1;
            k = Math.min(64, cores);
        } else if (instances == null) {
            t = threads;
            k = Math.max(1, Math.min(64, cores / threads));
        } else {
            k = instances;
            t = threads != null ? threads : Math.max(1, cores / instances);
        }
        int solo = soloThreads != null ? soloThreads : (cores > 1 && t < cores ? cores : 0);
        return new InstanceLayout(k, t, solo, t == 1);
    }

    /** For logs and metadata, e.g. "2 instances x 1 thread (one shared session), solo on 2 spinning threads". */
    public String describe() {
        String base = instances + (instances == 1 ? " instance" : " instances") + " x " + threads
                + (threads == 1 ? " thread" : " threads") + (shared && instances > 1 ? " (one shared session)" : "");
        return soloThreads > 0 ? base + ", solo on " + soloThreads + " spinning threads" : base + ", no solo session";
    }
}
