package dev.igate.demo;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import ai.onnx.proto.OnnxMl.ModelProto;
import dev.igate.predictor.ModelLoadException;
import dev.igate.predictor.ModelRepository;
import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.SessionSettings;
import dev.igate.predictor.onnx.OnnxProtos;
import dev.igate.protocol.Tensor;
import dev.igate.transformer.Prediction;
import dev.igate.transformer.Task;
import dev.igate.transformer.TextEncoder;
import dev.igate.transformer.TokenBatch;
import dev.igate.transformer.TokenClassification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * Builds the task demo models, each the all-MiniLM-L6-v2 encoder with a head trained here on
 * {@link TaskData} (heads in {@link TaskHeads}), one version each:
 * <ul>
 * <li>{@code BERTTokenClassification}: named entities (chemicals, species, doses, organs) in
 * toxicology sentences, BIO labels per token;</li>
 * <li>{@code BERTPairClassification}: natural-language inference, {@code entailment},
 * {@code neutral}, {@code contradiction}, trained on the demo sentences against hypotheses naming
 * their topic, another topic, or nothing the sentence says (the model zero-shot classification
 * uses);</li>
 * <li>{@code BERTCrossEncoder}: one relevance logit for a (query, text) pair, for reranking.</li>
 * </ul>
 * Reproducible as {@link DemoRepository}: fixed data and seeds, single-threaded runs, zero-initialised
 * weights; each folder appears atomically. Each version's {@code training.json} holds its held-out scores.
 */
public final class TaskDemos {

    public static final String TOKEN_MODEL = "BERTTokenClassification";
    public static final String PAIR_MODEL = "BERTPairClassification";
    public static final String CROSS_ENCODER = "BERTCrossEncoder";
    public static final List<String> NLI_LABELS = List.of("entailment", "neutral", "contradiction");

    private static final Logger log = LoggerFactory.getLogger(TaskDemos.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final SessionSettings SESSION = new SessionSettings("cpu", Math.min(2, Runtime.getRuntime().availableProcessors()), 1, "all");
    private static final int HIDDEN = DemoRepository.HIDDEN;
    /** The token model's aggregation strategy (its model-settings.json): it is trained on each word's first token. */
    static final String AGGREGATION = "first";
    /** Rows per parallel piece of a training step. */
    private static final int CHUNK = 256;
    /** Topics of the demo sentences that name no chemical, species, dose or organ. */
    private static final Set<String> NO_ENTITIES = Set.of("Computer-Science", "Materials-Science");

    /** What one model's build leaves in its version folder. */
    private record Built(ModelProto model, ObjectNode config, ObjectNode training, ObjectNode settings) {
    }

    @FunctionalInterface
    private interface Builder {
        Built build(ModelProto encoder, TextEncoder tokenizer, TaskData data) throws IOException, ModelLoadException;
    }

    private TaskDemos() {
    }

    /** Builds each task demo model that {@code root} lacks. Blocking, seconds per model. */
    public static void ensure(Path root) throws IOException, ModelLoadException {
        Map<String, Builder> builders = new java.util.LinkedHashMap<>();
        builders.put(TOKEN_MODEL, TaskDemos::tokenClassifier);
        builders.put(PAIR_MODEL, TaskDemos::pairClassifier);
        builders.put(CROSS_ENCODER, TaskDemos::crossEncoder);
        ModelRepository repository = new ModelRepository(root);
        ModelProto encoder = null;
        TaskData data = null;
        for (Map.Entry<String, Builder> b : builders.entrySet()) {
            if (!repository.versions(b.getKey()).isEmpty()) {
                continue;
            }
            if (encoder == null) {
                try (InputStream in = DemoRepository.resource(DemoRepository.ENCODER_RESOURCE)) {
                    encoder = OnnxProtos.parse(in);
                }
                data = TaskData.read();
            }
            build(root, b.getKey(), b.getValue(), encoder, data);
        }
    }

    private static void build(Path root, String name, Builder builder, ModelProto encoder, TaskData data)
            throws IOException, ModelLoadException {
        long start = System.nanoTime();
        Files.createDirectories(root);
        Path staging = Files.createTempDirectory(root, "." + name + "-building-");
        try {
            Path version = Files.createDirectories(staging.resolve("1"));
            Path tokenizerFile = version.resolve(ModelRepository.TOKENIZER_FILE);
            try (InputStream in = DemoRepository.resource(DemoRepository.TOKENIZER_RESOURCE)) {
                Files.copy(in, tokenizerFile);
            }
            Built built;
            try (TextEncoder tokenizer = TextEncoder.load(tokenizerFile, DemoRepository.MAX_LENGTH)) {
                built = builder.build(encoder, tokenizer, data);
            }
            OnnxProtos.write(version.resolve(ModelRepository.MODEL_FILE), built.model());
            DemoRepository.writeJson(version.resolve(ModelRepository.CONFIG_FILE), built.config());
            DemoRepository.writeJson(version.resolve("training.json"), built.training());
            DemoRepository.writeJson(staging.resolve(ModelRepository.SETTINGS_FILE), built.settings());
            Files.move(staging, root.resolve(name), StandardCopyOption.ATOMIC_MOVE);
        } finally {
            DemoRepository.deleteRecursively(staging);
        }
        log.info("Built demo model {} in {} ms under {}", name, (System.nanoTime() - start) / 1_000_000, root);
    }

    // ---------------------------------------------------------------- named entities

    private static Built tokenClassifier(ModelProto encoder, TextEncoder tokenizer, TaskData data)
            throws IOException, ModelLoadException {
        List<String> labels = data.bioLabels();
        List<TaskData.Annotated> train = new ArrayList<>(data.sentences(false, false, 312, 26));
        // sentences of the demo topics that name none of these (computing, materials): words that are no entity
        for (LabelledSentence s : LabelledSentence.dataset()) {
            if (!s.test() && NO_ENTITIES.contains(s.label())) {
                train.add(new TaskData.Annotated(s.text(), List.of()));
            }
        }
        List<TaskData.Annotated> test = data.sentences(true, true, 80, 2026);
        List<float[]> x = new ArrayList<>();
        List<Integer> y = new ArrayList<>();
        int outside = 0;
        try (OnnxModel features = OnnxModel.load(TaskHeads.tokenFeatures(encoder, HIDDEN), SESSION,
                "demo token features")) {
            for (int from = 0; from < train.size(); from += 32) {
                List<TaskData.Annotated> chunk = train.subList(from, Math.min(train.size(), from + 32));
                TokenBatch batch = tokenizer.encode(chunk.stream().map(TaskData.Annotated::text).toList());
                float[] out = run(features, batch, TaskHeads.TOKEN_FEATURES).floats();
                for (int r = 0; r < chunk.size(); r++) {
                    for (int t = 0; t < batch.tokenCount(r); t++) {
                        if (!wordStart(batch, r, t)) {
                            continue;
                        }
                        int label = labels.indexOf(bio(chunk.get(r), batch, r, t));
                        // every other word outside an entity: they are most words, and need not cost most of the training
                        if (label == 0 && outside++ % 2 == 1) {
                            continue;
                        }
                        x.add(java.util.Arrays.copyOfRange(out, (r * batch.length() + t) * 2 * HIDDEN,
                                (r * batch.length() + t + 1) * 2 * HIDDEN));
                        y.add(label);
                    }
                }
            }
        }
        SoftmaxRegression.Weights w = SoftmaxRegression.train(x.toArray(float[][]::new),
                y.stream().mapToInt(Integer::intValue).toArray(), labels.size(), 1e-4, 300, 4.0, CHUNK);
        ModelProto model = TaskHeads.tokenClassifier(encoder, HIDDEN, labels.size(), w.weights(), w.bias());

        // held out: unseen templates, with unseen names and with the names trained on
        double[] unseen = entityScores(model, tokenizer, labels, test);
        double[] seenNames = entityScores(model, tokenizer, labels, data.sentences(true, false, 80, 2027));
        ObjectNode training = JSON.createObjectNode();
        training.put("dataset", "tasks.tsv (templates and lexicons)");
        training.put("train_sentences", train.size());
        training.put("train_tokens", x.size());
        training.put("heldout_sentences", test.size());
        training.put("heldout_entity_precision", round(unseen[0]));
        training.put("heldout_entity_recall", round(unseen[1]));
        training.put("heldout_entity_f1", round(unseen[2]));
        training.put("heldout_seen_names_entity_f1", round(seenNames[2]));
        training.put("heldout_note", "sentences from templates not trained on, with chemicals, species, doses and organs not "
                + "trained on (seen_names: the names trained on); an entity counts when its type and span are exact "
                + "(aggregation " + AGGREGATION + ")");
        log.info("Demo model {}: held-out entity F1 {} (unseen names), {} (names trained on)", TOKEN_MODEL, round(unseen[2]),
                round(seenNames[2]));
        ObjectNode settings = settings("all-MiniLM-L6-v2 encoder with a linear token head: chemicals, species, doses and "
                + "organs in toxicology sentences (BIO labels)");
        settings.put("aggregation_strategy", AGGREGATION);
        return new Built(model, config("BertForTokenClassification", labels, null), training, settings);
    }

    /** Entity precision, recall and F1 of a token model on annotated sentences: an entity counts when its type and span are exact. */
    private static double[] entityScores(ModelProto model, TextEncoder tokenizer, List<String> labels, List<TaskData.Annotated> test)
            throws ModelLoadException {
        int gold = 0;
        int found = 0;
        int exact = 0;
        try (OnnxModel classifier = OnnxModel.load(model, SESSION, "demo token classifier")) {
            Task task = Task.of(Task.TOKEN_CLASSIFICATION, labels).forRequest(Map.of(TokenClassification.AGGREGATION_PARAMETER, AGGREGATION));
            for (int from = 0; from < test.size(); from += 32) {
                List<TaskData.Annotated> chunk = test.subList(from, Math.min(test.size(), from + 32));
                TokenBatch batch = tokenizer.encode(chunk.stream().map(TaskData.Annotated::text).toList());
                List<Prediction> predictions = task.decode(run(classifier, batch, ClassifierHead.LOGITS_OUTPUT), batch);
                for (int r = 0; r < chunk.size(); r++) {
                    String text = chunk.get(r).text();
                    Set<String> expected = new HashSet<>();
                    for (TaskData.Span s : chunk.get(r).spans()) {
                        expected.add(s.type() + "@" + text.codePointCount(0, s.start()) + ":" + text.codePointCount(0, s.end()));
                    }
                    gold += expected.size();
                    for (Prediction.Entity e : predictions.get(r).entities()) {
                        found++;
                        exact += expected.contains(e.label() + "@" + e.start() + ":" + e.end()) ? 1 : 0;
                    }
                }
            }
        }
        double precision = found == 0 ? 0 : (double) exact / found;
        double recall = (double) exact / gold;
        return new double[] {precision, recall, precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)};
    }

    /**
     * Whether a token starts a word: only those are trained, as HuggingFace's token-classification
     * examples label the first sub-word of each word, and the served model aggregates words by their
     * first token ({@code first}).
     */
    private static boolean wordStart(TokenBatch batch, int row, int token) {
        long word = batch.wordIds()[row][token];
        return word >= 0 && (token == 0 || batch.wordIds()[row][token - 1] != word);
    }

    /** A token's BIO label: {@code B-} on an entity's first token, {@code I-} on its others (sub-words included). */
    private static String bio(TaskData.Annotated sentence, TokenBatch batch, int row, int token) {
        int start = batch.charStarts()[row][token];
        if (start < 0) {
            return "O";
        }
        for (TaskData.Span s : sentence.spans()) {
            if (start >= s.start() && start < s.end()) {
                return (start == s.start() ? "B-" : "I-") + s.type();
            }
        }
        return "O";
    }

    // ---------------------------------------------------------------- pairs

    private record Pair(String text, String pair, int label) {
    }

    private static Built pairClassifier(ModelProto encoder, TextEncoder tokenizer, TaskData data)
            throws IOException, ModelLoadException {
        List<LabelledSentence> sentences = LabelledSentence.dataset();
        List<Pair> train = nliPairs(sentences, false, data, 7);
        List<Pair> test = nliPairs(sentences, true, data, 11);
        Trained trained = trainPairs(encoder, tokenizer, train, NLI_LABELS.size(), 1e-4);
        int correct = 0;
        float[][] logits = pairLogits(trained.model(), tokenizer, test);
        for (int i = 0; i < test.size(); i++) {
            correct += argmax(logits[i]) == test.get(i).label() ? 1 : 0;
        }
        // zero-shot as the pipeline does it: each held-out sentence against "This example is {topic}." for every topic
        List<String> topics = new ArrayList<>(data.topics().keySet());
        List<LabelledSentence> heldOut = sentences.stream().filter(LabelledSentence::test).toList();
        List<Pair> zeroShot = new ArrayList<>();
        for (LabelledSentence s : heldOut) {
            for (String topic : topics) {
                zeroShot.add(new Pair(s.text(), "This example is " + data.topics().get(topic).get(0) + ".", 0));
            }
        }
        float[][] z = pairLogits(trained.model(), tokenizer, zeroShot);
        int zeroShotCorrect = 0;
        for (int i = 0; i < heldOut.size(); i++) {
            float[] entailment = new float[topics.size()];
            for (int t = 0; t < topics.size(); t++) {
                entailment[t] = z[i * topics.size() + t][0];
            }
            zeroShotCorrect += topics.get(argmax(entailment)).equals(heldOut.get(i).label()) ? 1 : 0;
        }
        ObjectNode training = JSON.createObjectNode();
        training.put("dataset", "abstracts.tsv sentences against tasks.tsv hypotheses");
        training.put("train_pairs", train.size());
        training.put("heldout_pairs", test.size());
        training.put("heldout_accuracy", round((double) correct / test.size()));
        training.put("heldout_zero_shot_accuracy", round((double) zeroShotCorrect / heldOut.size()));
        training.put("heldout_note", "held-out sentences: each against its own topic (entailment), another topic "
                + "(contradiction) and a statement it does not make (neutral); zero-shot picks one of the 6 topics with the "
                + "hypothesis \"This example is {}.\"");
        log.info("Demo model {}: held-out accuracy {}/{}, zero-shot {}/{}", PAIR_MODEL, correct, test.size(), zeroShotCorrect,
                heldOut.size());
        return new Built(trained.model(), config("BertForSequenceClassification", NLI_LABELS, Task.SINGLE_LABEL), training,
                settings("all-MiniLM-L6-v2 cross-encoder with a pair head: natural-language inference (entailment, neutral, "
                        + "contradiction) on the demo topics; zero-shot classification uses it"));
    }

    private static List<Pair> nliPairs(List<LabelledSentence> sentences, boolean test, TaskData data, long seed) {
        Random random = new Random(seed);
        List<String> topics = new ArrayList<>(data.topics().keySet());
        List<Pair> out = new ArrayList<>();
        for (LabelledSentence s : sentences) {
            if (s.test() != test) {
                continue;
            }
            String other = topics.get(random.nextInt(topics.size()));
            while (other.equals(s.label())) {
                other = topics.get(random.nextInt(topics.size()));
            }
            out.add(new Pair(s.text(), hypothesis(data, s.label(), random), 0));
            out.add(new Pair(s.text(), data.neutral().get(random.nextInt(data.neutral().size())), 1));
            out.add(new Pair(s.text(), hypothesis(data, other, random), 2));
        }
        return out;
    }

    private static String hypothesis(TaskData data, String topic, Random random) {
        List<String> phrases = data.topics().get(topic);
        String template = data.hypotheses().get(random.nextInt(data.hypotheses().size()));
        return template.replace("{}", phrases.get(random.nextInt(phrases.size())));
    }

    private static Built crossEncoder(ModelProto encoder, TextEncoder tokenizer, TaskData data)
            throws IOException, ModelLoadException {
        List<LabelledSentence> sentences = LabelledSentence.dataset();
        Random random = new Random(13);
        List<String> topics = new ArrayList<>(data.trainQueries().keySet());
        List<Pair> train = new ArrayList<>();
        for (LabelledSentence s : sentences) {
            if (s.test()) {
                continue;
            }
            String other = topics.get(random.nextInt(topics.size()));
            while (other.equals(s.label())) {
                other = topics.get(random.nextInt(topics.size()));
            }
            List<String> own = data.trainQueries().get(s.label());
            List<String> others = data.trainQueries().get(other);
            train.add(new Pair(own.get(random.nextInt(own.size())), s.text(), 1));
            train.add(new Pair(others.get(random.nextInt(others.size())), s.text(), 0));
        }
        Trained trained = trainPairs(encoder, tokenizer, train, 2, 1e-4);
        // one relevance logit: the log-odds of the two classes
        float[] w2 = trained.weights().weights();
        float[] weights = new float[w2.length / 2];
        for (int f = 0; f < weights.length; f++) {
            weights[f] = w2[2 * f + 1] - w2[2 * f];
        }
        float[] bias = {trained.weights().bias()[1] - trained.weights().bias()[0]};
        ModelProto model = TaskHeads.pairClassifier(encoder, HIDDEN, 1, weights, bias);

        // held out: every unseen query ranks every held-out sentence
        List<LabelledSentence> heldOut = sentences.stream().filter(LabelledSentence::test).toList();
        List<Pair> ranked = new ArrayList<>();
        List<String> queryTopics = new ArrayList<>();
        for (Map.Entry<String, List<String>> q : data.testQueries().entrySet()) {
            for (String query : q.getValue()) {
                queryTopics.add(q.getKey());
                for (LabelledSentence s : heldOut) {
                    ranked.add(new Pair(query, s.text(), s.label().equals(q.getKey()) ? 1 : 0));
                }
            }
        }
        float[][] scores = pairLogits(model, tokenizer, ranked);
        double precisionAt5 = 0;
        for (int q = 0; q < queryTopics.size(); q++) {
            int offset = q * heldOut.size();
            List<Integer> order = new ArrayList<>();
            for (int i = 0; i < heldOut.size(); i++) {
                order.add(i);
            }
            order.sort(Comparator.comparingDouble(i -> -scores[offset + i][0]));
            int hits = 0;
            for (int k = 0; k < 5; k++) {
                hits += ranked.get(offset + order.get(k)).label();
            }
            precisionAt5 += hits / 5.0;
        }
        precisionAt5 /= queryTopics.size();
        ObjectNode training = JSON.createObjectNode();
        training.put("dataset", "tasks.tsv queries against abstracts.tsv sentences");
        training.put("train_pairs", train.size());
        training.put("heldout_queries", queryTopics.size());
        training.put("heldout_sentences", heldOut.size());
        training.put("heldout_precision_at_5", round(precisionAt5));
        training.put("heldout_note", "each unseen query ranks all held-out sentences; a hit is a sentence of the query's topic");
        log.info("Demo model {}: held-out precision@5 {}", CROSS_ENCODER, round(precisionAt5));
        ObjectNode config = config("BertForSequenceClassification", List.of("LABEL_0"), null);
        // as sentence-transformers writes a CrossEncoder's config: its score is a sigmoid of the logit
        config.putObject("sentence_transformers").put("activation_fn", "torch.nn.modules.activation.Sigmoid");
        return new Built(model, config, training, settings("all-MiniLM-L6-v2 cross-encoder with a pair head: one relevance "
                + "logit for a (query, text) pair on the demo topics, for reranking"));
    }

    private record Trained(ModelProto model, SoftmaxRegression.Weights weights) {
    }

    private static Trained trainPairs(ModelProto encoder, TextEncoder tokenizer, List<Pair> pairs, int classes, double l2)
            throws ModelLoadException {
        float[][] x;
        try (OnnxModel features = OnnxModel.load(TaskHeads.pairFeatures(encoder, HIDDEN), SESSION,
                "demo pair features")) {
            x = pairRows(features, tokenizer, pairs, TaskHeads.PAIR_FEATURES, 4 * HIDDEN);
        }
        int[] y = pairs.stream().mapToInt(Pair::label).toArray();
        SoftmaxRegression.Weights w = SoftmaxRegression.train(x, y, classes, l2, 300, 2.0, CHUNK);
        return new Trained(TaskHeads.pairClassifier(encoder, HIDDEN, classes, w.weights(), w.bias()), w);
    }

    private static float[][] pairLogits(ModelProto model, TextEncoder tokenizer, List<Pair> pairs) throws ModelLoadException {
        try (OnnxModel classifier = OnnxModel.load(model, SESSION, "demo pair classifier")) {
            int width = (int) classifier.outputs().get(0).shape()[1];
            return pairRows(classifier, tokenizer, pairs, ClassifierHead.LOGITS_OUTPUT, width);
        }
    }

    private static float[][] pairRows(OnnxModel model, TextEncoder tokenizer, List<Pair> pairs, String output, int width) {
        float[][] rows = new float[pairs.size()][];
        for (int from = 0; from < pairs.size(); from += 32) {
            List<Pair> chunk = pairs.subList(from, Math.min(pairs.size(), from + 32));
            TokenBatch batch = tokenizer.encodePairs(chunk.stream().map(Pair::text).toList(), chunk.stream().map(Pair::pair).toList(),
                    TextEncoder.Truncation.LONGEST_FIRST);
            float[] out = run(model, batch, output).floats();
            for (int r = 0; r < chunk.size(); r++) {
                rows[from + r] = java.util.Arrays.copyOfRange(out, r * width, (r + 1) * width);
            }
        }
        return rows;
    }

    // ---------------------------------------------------------------- shared

    private static Tensor run(OnnxModel model, TokenBatch batch, String output) {
        List<Tensor> feeds = model.tokenFeeds(new long[] {batch.rows(), batch.length()}, batch.inputIds(), batch.attentionMask(),
                batch.typeIds());
        return model.run(feeds, List.of(output)).get(0);
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    private static double round(double v) {
        return Double.parseDouble(String.format(Locale.ROOT, "%.4f", v));
    }

    private static ObjectNode settings(String description) {
        ObjectNode settings = JSON.createObjectNode();
        settings.put("description", description);
        settings.put("max_length", DemoRepository.MAX_LENGTH);
        return settings;
    }

    private static ObjectNode config(String architecture, List<String> labels, String problemType) {
        ObjectNode c = JSON.createObjectNode();
        c.putArray("architectures").add(architecture);
        c.put("model_type", "bert");
        c.put("hidden_size", HIDDEN);
        c.put("max_position_embeddings", 512);
        if (problemType != null) {
            c.put("problem_type", problemType);
        }
        ObjectNode id2label = c.putObject("id2label");
        ObjectNode label2id = c.putObject("label2id");
        for (int i = 0; i < labels.size(); i++) {
            id2label.put(String.valueOf(i), labels.get(i));
            label2id.put(labels.get(i), i);
        }
        return c;
    }

    /**
     * The token model's held-out sentences, as {@code training.json} scores them: unseen templates
     * with unseen names, then with the names trained on.
     */
    public static List<String> heldOutEntitySentences() throws IOException {
        TaskData data = TaskData.read();
        List<String> out = new ArrayList<>();
        data.sentences(true, true, 80, 2026).forEach(a -> out.add(a.text()));
        data.sentences(true, false, 80, 2027).forEach(a -> out.add(a.text()));
        return out;
    }

    /** Command line: {@code TaskDemos <repository-root>} builds the task demo models there. */
    public static void main(String[] args) throws Exception {
        ensure(Path.of(args.length > 0 ? args[0] : "models"));
    }
}
