package dev.igate.gateway.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;

import dev.igate.explainer.TextExplainer;
import dev.igate.predictor.ModelConfig;
import dev.igate.predictor.ModelLoadException;
import dev.igate.predictor.ModelRepository;
import dev.igate.predictor.batching.BatchingSettings;
import dev.igate.predictor.batching.Scheduling;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.NotImplementedException;
import dev.igate.protocol.ServerBusyException;
import dev.igate.protocol.Tensor;
import dev.igate.protocol.TensorMetadata;
import dev.igate.transformer.Task;
import dev.igate.transformer.TextEncoder;
import dev.igate.transformer.TokenBatch;

/**
 * One loaded model version, as the data plane sees it: texts or tensors in, tensors out, work in
 * flight counted so a retired copy closes only once its work ends. Two kinds:
 * {@link LocalModel} runs ONNX Runtime sessions in this process behind a dynamic batcher,
 * {@link RemoteModel} tokenizes here and sends the token tensors to a remote predictor.
 */
public abstract sealed class ServedModel implements AutoCloseable permits LocalModel, RemoteModel {

    public static final String LOGITS = "logits";
    /** Every load of a version in this process gets the next number: what a reload of the same version number changes. */
    private static final AtomicLong GENERATIONS = new AtomicLong();

    private final String name;
    private final String version;
    private final long generation;
    private final TextEncoder encoder;
    private final Task task;
    private final Reading reading;
    private final InFlight inFlight;

    /**
     * How a text model reads its texts.
     *
     * @param pairs      whether it reads pairs of texts ({@code text_pair}: an NLI model, a cross-encoder)
     * @param entailment its entailment class (what zero-shot classification scores), or -1
     */
    public record Reading(boolean pairs, int entailment) {

        static final Reading SINGLE = new Reading(false, -1);

        /** As the model's setting says ({@code pairs}), else as its config.json tells. */
        static Reading of(ModelConfig config, dev.igate.gateway.ModelProperties props) {
            return new Reading(props.pairs() != null ? props.pairs() : config.readsPairs(), config.entailment());
        }
    }

    ServedModel(String name, String version, long generation, TextEncoder encoder, Task task, Reading reading) {
        this.name = name;
        this.version = version;
        this.generation = generation;
        this.encoder = encoder;
        this.task = task;
        this.reading = reading;
        this.inFlight = new InFlight("Model " + name + " version " + version);
    }

    /** A number for a new load of a version (a local load pins its files under it before the version is built). */
    static long newGeneration() {
        return GENERATIONS.incrementAndGet();
    }

    public String name() {
        return name;
    }

    public String version() {
        return version;
    }

    /**
     * This load of the version: a number no other load in this process had, so a reload of the same
     * version number (new files under "1") is told apart from the copy it replaced.
     */
    public long generation() {
        return generation;
    }

    /** How the model reads texts: single or in pairs, its entailment class. */
    public Reading reading() {
        return reading;
    }

    /** Whether texts can be sent: the model has a tokenizer and labels. */
    public boolean acceptsText() {
        return encoder != null && task != null;
    }

    public TextEncoder encoder() {
        return encoder;
    }

    /** What the model's outputs mean (its labels, how they are decoded), or null for a model that takes no text. */
    public Task task() {
        return task;
    }

    /** The V2 platform the version reports in its metadata. */
    public abstract String platform();

    /** The tensors a V2 infer request gives the version. */
    public abstract List<TensorMetadata> inputs();

    /** The tensors the version answers. */
    public abstract List<TensorMetadata> outputs();

    /** What the version's V2 metadata says besides its version, default version, labels and task. */
    abstract void describe(Map<String, Object> parameters);

    /** Triton's statistics of this copy of the version: none when its model runs on a remote predictor. */
    public abstract Optional<TritonStatistics> statistics();

    /** The batching settings requests for the version meet. */
    public abstract BatchingSettings batching();

    /** Work on this version in flight, held until the work ends (see {@link #lease()}). */
    public interface Lease extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Takes a share of this version for work that touches it (its tokenizer, explainer or
     * sessions): the version is closed only when every lease has ended. Close it when the work ends.
     *
     * @throws dev.igate.protocol.ModelNotReadyException when the version was unloaded
     */
    public Lease lease() {
        return inFlight.acquire()::close;
    }

    /** Work in flight on this version: tokenizations, queued and running jobs, explanations. */
    public int inFlight() {
        return inFlight.count();
    }

    /** Holds a lease until the job's future completes. */
    <R> CompletableFuture<R> leased(java.util.function.Supplier<CompletableFuture<R>> submit) {
        Lease lease = lease();
        CompletableFuture<R> future;
        try {
            future = submit.get();
        } catch (RuntimeException e) {
            lease.close();
            throw e;
        }
        future.whenComplete((r, e) -> lease.close());
        return future;
    }

    /**
     * Runs tokenized texts.
     *
     * @return the model's output for the texts, {@code [texts, ...]} as the model shapes it (a
     *         per-token output cut to the batch's length)
     * @throws ServerBusyException when the version's queue is full
     */
    public CompletableFuture<Tensor> logits(TokenBatch batch) {
        return logits(batch, Scheduling.DEFAULT);
    }

    /** As {@link #logits(TokenBatch)}, queued at the request's priority and with its queue timeout. */
    public abstract CompletableFuture<Tensor> logits(TokenBatch batch, Scheduling scheduling);

    /**
     * Runs raw tensors.
     *
     * @throws InvalidInputException when names, datatypes or shapes disagree with the model
     * @throws ServerBusyException   when the version's queue is full
     */
    public CompletableFuture<List<Tensor>> run(List<Tensor> inputs, List<String> outputs) {
        return run(inputs, outputs, Scheduling.DEFAULT);
    }

    /** As {@link #run(List, List)}, queued at the request's priority and with its queue timeout. */
    public abstract CompletableFuture<List<Tensor>> run(List<Tensor> inputs, List<String> outputs, Scheduling scheduling);

    /**
     * The integrated-gradients explainer of this version, prepared on first use. Blocking.
     *
     * @throws NotImplementedException when the version cannot be explained here
     */
    public abstract TextExplainer explainer();

    /** Requests waiting for a batch. */
    public abstract int queueDepth();

    /**
     * Refuses at once, before any work is spent on it, a request this version's queue would refuse
     * (full, or past max-queue-wait): under overload the refusals then cost no tokenization.
     *
     * @throws ServerBusyException when the queue would refuse it
     */
    public void checkAdmission() {
        checkAdmission(Scheduling.DEFAULT);
    }

    /** As {@link #checkAdmission()} for a request of this priority, which waits only behind its level and higher ones. */
    public abstract void checkAdmission(Scheduling scheduling);

    /** How long a request queued now is expected to wait for its run. */
    public abstract java.time.Duration expectedQueueWait();

    /**
     * Retires this version: lets every piece of work in flight finish (up to {@code limit}), refuses
     * new work, then closes it. Callers that resolved this version before it was replaced get their
     * answers. Blocking.
     */
    public void drainAndClose(java.time.Duration limit) {
        inFlight.drainThenClose(limit);
        stopTaking();
        // explanations still running fail at their next piece once the batcher is closed, and end
        inFlight.awaitNone();
        close();
    }

    /** Answers whatever is still queued (past the drain's limit) with 503; nothing more is taken. */
    abstract void stopTaking();

    @Override
    public void close() {
        if (encoder != null) {
            encoder.close();
        }
    }

    /**
     * The model's task: its {@code task} setting, else what config.json's problem_type or
     * architectures say, with id2label's labels and the model's task settings.
     *
     * @throws ModelLoadException for an unknown problem_type or labels that do not fit it
     */
    static Task task(ModelConfig config, dev.igate.gateway.ModelProperties props) throws ModelLoadException {
        Task task;
        try {
            task = Task.of(Task.resolve(props.task(), config.problemType(), config.architectures()), config.labels());
        } catch (IllegalArgumentException e) {
            throw new ModelLoadException("config.json: " + e.getMessage(), e);
        }
        try {
            // the model's settings as its requests' defaults (a token classifier's aggregation strategy, labels ignored)
            return task.forRequest(props.taskDefaults());
        } catch (RuntimeException e) {
            throw new ModelLoadException("task settings: " + e.getMessage(), e);
        }
    }

    /**
     * The version folder's tokenizer, its inputs cut at {@code maxLength} or the model's position
     * embeddings, whichever is shorter; null when the folder has none. Blocking.
     */
    static TextEncoder encoder(Path dir, ModelConfig config, int maxLength) throws IOException {
        Path tokenizer = dir.resolve(ModelRepository.TOKENIZER_FILE);
        if (!Files.isRegularFile(tokenizer)) {
            return null;
        }
        int limit = config.maxPositionEmbeddings() > 0 ? Math.min(maxLength, config.maxPositionEmbeddings()) : maxLength;
        return TextEncoder.load(tokenizer, limit);
    }
}
