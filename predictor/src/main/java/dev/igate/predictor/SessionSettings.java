package dev.igate.predictor;

import java.util.Locale;

/**
 * ONNX Runtime session options for one model.
 *
 * @param device            {@code auto}, {@code cpu} or {@code cuda:N}
 * @param intraOpThreads    threads inside one operator; 0 lets ONNX Runtime choose
 * @param interOpThreads    threads across independent operators; 0 lets ONNX Runtime choose
 * @param optimizationLevel {@code none}, {@code basic}, {@code extended} or {@code all}
 * @param allowSpinning     whether the intra-op threads spin while waiting for work inside a run; they stop
 *                          spinning when the run ends ({@code session.force_spinning_stop}), so an idle
 *                          session takes no CPU from the HTTP and tokenizer threads. Off by default: with
 *                          several sessions running at once, spinning threads oversubscribe the cores
 *                          (2 cores: 2 sessions x 2 spinning threads 826 rows/s against 1,064 for 2 x 1
 *                          thread); on for the solo session, which only runs when it has the cores alone
 */
public record SessionSettings(String device, int intraOpThreads, int interOpThreads, String optimizationLevel,
                              boolean allowSpinning) {

    public static final SessionSettings DEFAULTS = new SessionSettings("auto", 0, 1, "all", false);

    public SessionSettings(String device, int intraOpThreads, int interOpThreads, String optimizationLevel) {
        this(device, intraOpThreads, interOpThreads, optimizationLevel, false);
    }

    public SessionSettings {
        device = device == null ? "auto" : device.trim().toLowerCase(Locale.ROOT);
        optimizationLevel = optimizationLevel == null ? "all" : optimizationLevel.trim().toLowerCase(Locale.ROOT);
        if (!device.equals("auto") && !device.equals("cpu") && !device.matches("cuda(:\\d+)?")) {
            throw new IllegalArgumentException("device must be auto, cpu or cuda:N, was " + device);
        }
        if (!optimizationLevel.matches("none|basic|extended|all")) {
            throw new IllegalArgumentException("optimization-level must be none, basic, extended or all, was "
                    + optimizationLevel);
        }
        if (intraOpThreads < 0 || interOpThreads < 0) {
            throw new IllegalArgumentException("intra-op-threads and inter-op-threads must be 0 (ONNX Runtime's choice) or positive");
        }
    }

    /** These settings with another intra-op thread count and spinning choice. */
    public SessionSettings withThreads(int intraOp, boolean spinning) {
        return new SessionSettings(device, intraOp, interOpThreads, optimizationLevel, spinning);
    }

    /** The CUDA device index asked for: N of {@code cuda:N}, 0 for {@code cuda} and {@code auto}. */
    public int cudaDeviceId() {
        int colon = device.indexOf(':');
        return colon < 0 ? 0 : Integer.parseInt(device.substring(colon + 1));
    }
}
