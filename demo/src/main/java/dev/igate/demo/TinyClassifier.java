package dev.igate.demo;

import static dev.igate.predictor.onnx.OnnxProtos.floats;
import static dev.igate.predictor.onnx.OnnxProtos.intAttr;
import static dev.igate.predictor.onnx.OnnxProtos.ints;
import static dev.igate.predictor.onnx.OnnxProtos.longs;
import static dev.igate.predictor.onnx.OnnxProtos.node;
import static dev.igate.predictor.onnx.OnnxProtos.tensorValue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.igate.predictor.ModelRepository;
import dev.igate.predictor.onnx.OnnxProtos;

/**
 * A small text classifier built in code, for tests: word embeddings plus position embeddings
 * (sequence length read from {@code Shape(input_ids)}, as BERT exports do), an element-wise
 * activation, attention-masked mean pooling and a linear layer. With an activation that has no
 * gradient rule (e.g. {@code Sin}) it exercises the explainer's black-box fallback.
 */
public final class TinyClassifier {

    public static final int VOCAB = 30522;
    public static final int HIDDEN = 8;
    public static final int MAX_POSITIONS = 512;
    public static final List<String> LABELS = List.of("negative", "neutral", "positive");

    private TinyClassifier() {
    }

    /** The ONNX model (opset 11) with random weights from {@code seed}. */
    public static ModelProto model(String activation, long seed) {
        return model(activation, seed, TensorProto.DataType.INT64);
    }

    /** As {@link #model(String, long)}, its token inputs of {@code tokenType} (INT64, or INT32 as some exports have). */
    public static ModelProto model(String activation, long seed, TensorProto.DataType tokenType) {
        Random random = new Random(seed);
        int classes = LABELS.size();
        GraphProto.Builder g = GraphProto.newBuilder().setName("tiny_classifier")
                .addInput(tensorValue("input_ids", tokenType, "batch", "sequence"))
                .addInput(tensorValue("attention_mask", tokenType, "batch", "sequence"))
                .addOutput(tensorValue("logits", TensorProto.DataType.FLOAT, "batch", (long) classes))
                .addInitializer(floats("word_embeddings", new long[] {VOCAB, HIDDEN}, gaussian(random, VOCAB * HIDDEN, 1.0)))
                .addInitializer(floats("position_embeddings", new long[] {MAX_POSITIONS, HIDDEN},
                        gaussian(random, MAX_POSITIONS * HIDDEN, 0.2)))
                .addInitializer(floats("classifier.weight", new long[] {HIDDEN, classes}, gaussian(random, HIDDEN * classes, 1.0)))
                .addInitializer(floats("classifier.bias", new long[] {classes}, gaussian(random, classes, 0.1)))
                .addInitializer(longs("one", new long[0], new long[] {1}))
                .addInitializer(longs("zero", new long[0], new long[] {0}));
        g.addNode(node("Gather", "/embeddings/word_embeddings/Gather", List.of("word_embeddings", "input_ids"), List.of("words")));
        g.addNode(node("Shape", "/embeddings/Shape", List.of("input_ids"), List.of("ids_shape")));
        g.addNode(node("Gather", "/embeddings/Gather_seq", List.of("ids_shape", "one"), List.of("seq_len")));
        g.addNode(node("Range", "/embeddings/Range", List.of("zero", "seq_len", "one"), List.of("positions")));
        g.addNode(node("Gather", "/embeddings/position_embeddings/Gather", List.of("position_embeddings", "positions"),
                List.of("position_vectors")));
        g.addNode(node("Add", "/embeddings/Add", List.of("words", "position_vectors"), List.of("embedded")));
        g.addNode(node(activation, "/activation/" + activation, List.of("embedded"), List.of("activated")));
        g.addNode(node("Cast", "/pooler/Cast", List.of("attention_mask"), List.of("mask"), intAttr("to", TensorProto.DataType.FLOAT_VALUE)));
        g.addNode(node("Unsqueeze", "/pooler/Unsqueeze", List.of("mask"), List.of("mask3"), ints("axes", 2)));
        g.addNode(node("Mul", "/pooler/Mul", List.of("activated", "mask3"), List.of("masked")));
        g.addNode(node("ReduceSum", "/pooler/ReduceSum", List.of("masked"), List.of("summed"), ints("axes", 1), intAttr("keepdims", 0)));
        g.addNode(node("ReduceSum", "/pooler/ReduceSum_1", List.of("mask3"), List.of("count"), ints("axes", 1), intAttr("keepdims", 0)));
        g.addNode(node("Div", "/pooler/Div", List.of("summed", "count"), List.of("pooled")));
        g.addNode(node("MatMul", "/classifier/MatMul", List.of("pooled", "classifier.weight"), List.of("projected")));
        g.addNode(node("Add", "/classifier/Add", List.of("projected", "classifier.bias"), List.of("logits")));
        return ModelProto.newBuilder().setIrVersion(6).setProducerName("igate TinyClassifier")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(11))
                .setGraph(g).build();
    }

    /**
     * Writes a servable version folder: model.onnx, the MiniLM tokenizer.json (its vocabulary
     * matches {@link #VOCAB}) and a config.json with three labels.
     */
    public static void write(Path versionDir, String activation, long seed) throws IOException {
        write(versionDir, activation, seed, TensorProto.DataType.INT64);
    }

    /** As {@link #write(Path, String, long)}, the model's token inputs of {@code tokenType}. */
    public static void write(Path versionDir, String activation, long seed, TensorProto.DataType tokenType) throws IOException {
        Files.createDirectories(versionDir);
        OnnxProtos.write(versionDir.resolve(ModelRepository.MODEL_FILE), model(activation, seed, tokenType));
        try (InputStream in = TinyClassifier.class.getResourceAsStream(DemoRepository.TOKENIZER_RESOURCE)) {
            if (in == null) {
                throw new IOException("tokenizer resource missing");
            }
            Files.copy(in, versionDir.resolve(ModelRepository.TOKENIZER_FILE), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        StringBuilder id2label = new StringBuilder();
        for (int i = 0; i < LABELS.size(); i++) {
            id2label.append(i == 0 ? "" : ", ").append('"').append(i).append("\": \"").append(LABELS.get(i)).append('"');
        }
        Files.writeString(versionDir.resolve(ModelRepository.CONFIG_FILE),
                "{\"model_type\": \"tiny\", \"max_position_embeddings\": " + MAX_POSITIONS + ", \"id2label\": {" + id2label + "}}\n");
    }

    private static float[] gaussian(Random random, int n, double scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextGaussian() * scale);
        }
        return v;
    }
}
