package dev.igate.predictor;

/** The ONNX Runtime execution provider a session ended up on. */
public enum ExecutionProvider {
    CPU("CPUExecutionProvider"),
    CUDA("CUDAExecutionProvider");

    private final String ortName;

    ExecutionProvider(String ortName) {
        this.ortName = ortName;
    }

    /** The name ONNX Runtime uses, e.g. {@code CUDAExecutionProvider}. */
    public String ortName() {
        return ortName;
    }
}
