package dev.igate.gateway.model;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

import dev.igate.explainer.TextExplainer;
import dev.igate.gateway.ModelProperties;
import dev.igate.gateway.remote.RemotePredictor;
import dev.igate.predictor.ExecutionProvider;
import dev.igate.predictor.ModelConfig;
import dev.igate.predictor.ModelLoadException;
import dev.igate.predictor.ModelRepository;
import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.batching.BatchingSettings;
import dev.igate.predictor.batching.Scheduling;
import dev.igate.protocol.Datatype;
import dev.igate.protocol.NotImplementedException;
import dev.igate.protocol.Tensor;
import dev.igate.protocol.TensorMetadata;
import dev.igate.transformer.Task;
import dev.igate.transformer.TextEncoder;
import dev.igate.transformer.TokenBatch;

/**
 * A version whose model runs in another process (the split deployment's transformer): texts are
 * tokenized here and their token tensors sent to the remote predictor, which batches them; raw
 * tensors pass through. Nothing queues here, so admission never refuses and nothing waits.
 */
public final class RemoteModel extends ServedModel {

    private static final List<String> TOKEN_INPUTS = List.of("input_ids", "attention_mask", "token_type_ids");

    private final RemotePredictor remote;
    private final BatchingSettings batching;

    private RemoteModel(String name, String version, TextEncoder encoder, Task task, Reading reading, RemotePredictor remote,
                        BatchingSettings batching) {
        super(name, version, newGeneration(), encoder, task, reading);
        this.remote = remote;
        this.batching = batching;
    }

    /**
     * Loads a version whose model runs in another process: only tokenizer.json and config.json
     * are read here. Blocking.
     *
     * @throws ModelLoadException when the tokenizer or labels are missing or invalid
     */
    static RemoteModel load(ModelRepository repository, String name, String version, ModelProperties props,
                            int maxLength, RemotePredictor remote) throws ModelLoadException {
        Path dir = repository.versionDir(name, version);
        ModelConfig config = ModelConfig.read(dir.resolve(ModelRepository.CONFIG_FILE));
        TextEncoder encoder;
        try {
            encoder = config.labels().isEmpty() ? null : encoder(dir, config, maxLength);
        } catch (IOException | RuntimeException e) {
            throw new ModelLoadException("tokenizer.json could not be loaded: " + e.getMessage(), e);
        }
        if (encoder == null) {
            throw new ModelLoadException("a transformer needs tokenizer.json and config.json with id2label");
        }
        try {
            return new RemoteModel(name, version, encoder, task(config, props), Reading.of(config, props), remote,
                    props.batchingSettings(ExecutionProvider.CPU));
        } catch (ModelLoadException | RuntimeException e) {
            encoder.close();
            throw e;
        }
    }

    /** The remote predictor this version's model runs on. */
    public RemotePredictor remote() {
        return remote;
    }

    @Override
    public String platform() {
        return "igate_transformer";
    }

    /** Texts in. */
    @Override
    public List<TensorMetadata> inputs() {
        return List.of(new TensorMetadata("text", Datatype.BYTES, new long[] {-1}));
    }

    /** Predictions out. */
    @Override
    public List<TensorMetadata> outputs() {
        return List.of(new TensorMetadata("predict", Datatype.BYTES, new long[] {-1}));
    }

    @Override
    void describe(Map<String, Object> parameters) {
        parameters.put("predictor", remote.base().toString());
        parameters.put("max_length", encoder().maxLength());
    }

    @Override
    public Optional<TritonStatistics> statistics() {
        return Optional.empty();
    }

    /** The batching settings configured for the model; the remote predictor applies its own. */
    @Override
    public BatchingSettings batching() {
        return batching;
    }

    /** Sends the token inputs the remote model has, in its datatypes. */
    @Override
    public CompletableFuture<Tensor> logits(TokenBatch batch, Scheduling scheduling) {
        long[] shape = {batch.rows(), batch.length()};
        Map<String, long[]> rows = Map.of("input_ids", batch.inputIds(), "attention_mask", batch.attentionMask(),
                "token_type_ids", batch.typeIds());
        return remote.inputs(name(), version()).thenCompose(takes -> {
            List<Tensor> feeds = new ArrayList<>(TOKEN_INPUTS.size());
            for (String input : TOKEN_INPUTS) {
                if (takes.containsKey(input) || input.equals("input_ids")) {
                    feeds.add(takes.get(input) == Datatype.INT32 ? OnnxModel.int32(input, shape, rows.get(input))
                            : Tensor.ofLongs(input, shape, rows.get(input)));
                }
            }
            return remote.infer(name(), version(), feeds, List.of(LOGITS), onward(scheduling));
        }).thenApply(out -> out.get(0));
    }

    /** Passes the tensors through; the remote predictor checks them. */
    @Override
    public CompletableFuture<List<Tensor>> run(List<Tensor> inputs, List<String> outputs, Scheduling scheduling) {
        return remote.infer(name(), version(), inputs, outputs, onward(scheduling));
    }

    /** The request's trace context, for the remote predictor's spans to join its trace (none when untraced). */
    private static Map<String, String> onward(Scheduling scheduling) {
        return scheduling.trace() instanceof dev.igate.gateway.tracing.RequestTrace trace ? trace.headers() : Map.of();
    }

    @Override
    public TextExplainer explainer() {
        throw new NotImplementedException("Model " + name() + " runs on the remote predictor " + remote.base()
                + "; explanations are served where the model is (the explainer or predictor service)");
    }

    @Override
    public int queueDepth() {
        return 0;
    }

    @Override
    public void checkAdmission(Scheduling scheduling) {
    }

    @Override
    public java.time.Duration expectedQueueWait() {
        return java.time.Duration.ZERO;
    }

    @Override
    void stopTaking() {
    }
}
