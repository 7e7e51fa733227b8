package dev.igate.demo;

import static dev.igate.predictor.onnx.OnnxProtos.floatAttr;
import static dev.igate.predictor.onnx.OnnxProtos.floats;
import static dev.igate.predictor.onnx.OnnxProtos.intAttr;
import static dev.igate.predictor.onnx.OnnxProtos.ints;
import static dev.igate.predictor.onnx.OnnxProtos.tensorValue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.igate.predictor.ModelRepository;
import dev.igate.predictor.onnx.OnnxProtos;

/**
 * Small transformer sequence classifiers built in code, for tests: two encoder layers of two
 * heads over the MiniLM tokenizer's vocabulary, in the graph forms exporters and optimizers write.
 *
 * <ul>
 * <li>{@link Style#BERT}: word, learned position and token-type embeddings; CLS pooling through a
 * tanh pooler.</li>
 * <li>{@link Style#DISTILBERT}: no token_type_ids input, sinusoidal positions; CLS through a ReLU
 * pre-classifier.</li>
 * <li>{@link Style#ROBERTA}: positions from the cumulative sum of the attention mask offset by
 * the padding index, one token type; CLS through a tanh dense layer.</li>
 * </ul>
 *
 * <p>Each is written unfused, as torch.onnx exports a model at the chosen opset (LayerNorm as
 * LayerNormalization from opset 17, decomposed before; Gelu from Erf), or fused with the same
 * weights, as ONNX Runtime's transformer optimizer writes it: EmbedLayerNormalization, Attention,
 * SkipLayerNormalization and BiasGelu of com.microsoft.
 */
public final class TinyEncoder {

    public static final int VOCAB = 30522;
    public static final int HIDDEN = 16;
    public static final int HEADS = 2;
    public static final int FFN = 32;
    public static final int LAYERS = 2;
    public static final int MAX_POSITIONS = 128;
    public static final List<String> LABELS = List.of("negative", "neutral", "positive");
    static final float EPSILON = 1e-12f;
    /** RoBERTa's padding index: its positions count from padding_idx + 1. */
    static final int PADDING_IDX = 1;

    public enum Style { BERT, DISTILBERT, ROBERTA }

    /** The weights of one model, drawn from a seed; the same for its unfused and fused forms. */
    private record Weights(float[] word, float[] positions, float[] types, float[] embGamma, float[] embBeta,
                           List<float[][]> layers, float[] poolW, float[] poolB, float[] classW, float[] classB) {
    }

    private final Style style;
    private final int opset;
    private int outputs = LABELS.size();
    private final GraphProto.Builder g = GraphProto.newBuilder();
    private int counter;

    private TinyEncoder(Style style, int opset) {
        this.style = style;
        this.opset = opset;
    }

    /** The unfused model at {@code opset} (11 to 18). */
    public static ModelProto model(Style style, int opset, long seed) {
        return model(style, opset, seed, LABELS.size());
    }

    /** The unfused model with {@code outputs} logits (1 for a regression head). */
    public static ModelProto model(Style style, int opset, long seed, int outputs) {
        TinyEncoder e = new TinyEncoder(style, opset);
        e.outputs = outputs;
        return e.build(weights(style, seed, outputs), false);
    }

    /** The same model with ONNX Runtime's fused operators (com.microsoft), at {@code opset}. */
    public static ModelProto fused(Style style, int opset, long seed) {
        return new TinyEncoder(style, opset).build(weights(style, seed, LABELS.size()), true);
    }

    private static Weights weights(Style style, long seed, int outputs) {
        Random r = new Random(seed);
        int positions = style == Style.ROBERTA ? MAX_POSITIONS + PADDING_IDX + 1 : MAX_POSITIONS;
        float[] pos = style == Style.DISTILBERT ? sinusoidal(positions) : gaussian(r, positions * HIDDEN, 0.3);
        List<float[][]> layers = new ArrayList<>();
        for (int l = 0; l < LAYERS; l++) {
            layers.add(new float[][] {
                    gaussian(r, HIDDEN * HIDDEN, 0.35), gaussian(r, HIDDEN, 0.1), // query
                    gaussian(r, HIDDEN * HIDDEN, 0.35), gaussian(r, HIDDEN, 0.1), // key
                    gaussian(r, HIDDEN * HIDDEN, 0.35), gaussian(r, HIDDEN, 0.1), // value
                    gaussian(r, HIDDEN * HIDDEN, 0.25), gaussian(r, HIDDEN, 0.1), // attention output
                    around(r, HIDDEN, 1, 0.1), gaussian(r, HIDDEN, 0.05),         // its LayerNorm
                    gaussian(r, HIDDEN * FFN, 0.25), gaussian(r, FFN, 0.1),       // intermediate
                    gaussian(r, FFN * HIDDEN, 0.2), gaussian(r, HIDDEN, 0.1),     // output
                    around(r, HIDDEN, 1, 0.1), gaussian(r, HIDDEN, 0.05)});       // its LayerNorm
        }
        return new Weights(gaussian(r, VOCAB * HIDDEN, 0.5), pos, gaussian(r, (style == Style.BERT ? 2 : 1) * HIDDEN, 0.2),
                around(r, HIDDEN, 1, 0.1), gaussian(r, HIDDEN, 0.05), layers,
                gaussian(r, HIDDEN * HIDDEN, 0.3), gaussian(r, HIDDEN, 0.1),
                gaussian(r, HIDDEN * outputs, 0.6), gaussian(r, outputs, 0.1));
    }

    private ModelProto build(Weights w, boolean fused) {
        g.setName("tiny_" + style.name().toLowerCase(Locale.ROOT) + (fused ? "_fused" : ""));
        g.addInput(tensorValue("input_ids", TensorProto.DataType.INT64, "batch", "sequence"));
        g.addInput(tensorValue("attention_mask", TensorProto.DataType.INT64, "batch", "sequence"));
        if (style == Style.BERT) {
            g.addInput(tensorValue("token_type_ids", TensorProto.DataType.INT64, "batch", "sequence"));
        }
        g.addOutput(tensorValue("logits", TensorProto.DataType.FLOAT, "batch", (long) outputs));
        String x;
        String maskIndex = null;
        String extendedMask = null;
        if (fused) {
            String[] embedded = fusedEmbeddings(w);
            x = embedded[0];
            maskIndex = embedded[1];
        } else {
            x = embeddings(w);
            // (1 - mask)[:, None, None, :] x -10000, added to the attention scores
            String mask = op("Cast", List.of("attention_mask"), intAttr("to", TensorProto.DataType.FLOAT_VALUE));
            extendedMask = op("Mul", List.of(op("Sub", List.of(scalar(1f), unsqueeze(mask, 1, 2))), scalar(-10000f)));
        }
        for (int l = 0; l < LAYERS; l++) {
            x = fused ? fusedLayer(x, maskIndex, w.layers().get(l), l) : layer(x, extendedMask, w.layers().get(l), l);
        }
        String cls = op("Gather", List.of(x, longs(fresh("cls_index"), new long[0], new long[] {0})), intAttr("axis", 1));
        String pooled = linear(cls, w.poolW(), w.poolB(), HIDDEN, HIDDEN);
        pooled = op(style == Style.DISTILBERT ? "Relu" : "Tanh", List.of(pooled));
        String logits = linear(pooled, w.classW(), w.classB(), HIDDEN, outputs);
        g.addNode(NodeProto.newBuilder().setOpType("Identity").setName("/logits").addInput(logits).addOutput("logits"));
        ModelProto.Builder m = ModelProto.newBuilder().setIrVersion(opset >= 15 ? 8 : 7).setProducerName("igate TinyEncoder")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset));
        if (fused) {
            m.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1));
        }
        return m.setGraph(g).build();
    }

    private String embeddings(Weights w) {
        String word = op("Gather", List.of(init("word_embeddings", w.word(), VOCAB, HIDDEN), "input_ids"));
        String positions;
        if (style == Style.ROBERTA) {
            // (cumsum(mask) x mask) + padding_idx: padding keeps position padding_idx
            String mask = "attention_mask";
            String cumulative = op("CumSum", List.of(mask, longs(fresh("axis"), new long[0], new long[] {1})));
            positions = op("Add", List.of(op("Mul", List.of(cumulative, mask)), longs(fresh("padding"), new long[0], new long[] {PADDING_IDX})));
        } else {
            String length = op("Gather", List.of(op("Shape", List.of("input_ids")), longs(fresh("one"), new long[0], new long[] {1})));
            positions = op("Range", List.of(longs(fresh("zero"), new long[0], new long[] {0}), length,
                    longs(fresh("step"), new long[0], new long[] {1})));
        }
        String sum = op("Add", List.of(word, op("Gather", List.of(init("position_embeddings", w.positions(),
                w.positions().length / HIDDEN, HIDDEN), positions))));
        if (style == Style.BERT) {
            sum = op("Add", List.of(sum, op("Gather", List.of(init("token_type_embeddings", w.types(), 2, HIDDEN), "token_type_ids"))));
        } else if (style == Style.ROBERTA) {
            sum = op("Add", List.of(sum, init("token_type_row", w.types(), HIDDEN)));
        }
        return layerNorm(sum, w.embGamma(), w.embBeta());
    }

    private String[] fusedEmbeddings(Weights w) {
        String ids = op("Cast", List.of("input_ids"), intAttr("to", TensorProto.DataType.INT32_VALUE));
        String mask = op("Cast", List.of("attention_mask"), intAttr("to", TensorProto.DataType.INT32_VALUE));
        String segments = "";
        String segmentTable = "";
        float[] positionTable = w.positions();
        String positionIds = "";
        if (style == Style.BERT) {
            segments = op("Cast", List.of("token_type_ids"), intAttr("to", TensorProto.DataType.INT32_VALUE));
            segmentTable = init("token_type_embeddings", w.types(), 2, HIDDEN);
        } else if (style == Style.ROBERTA) {
            // the one token type's row folded into the position table: the same sum before the normalization
            positionTable = positionTable.clone();
            for (int i = 0; i < positionTable.length; i++) {
                positionTable[i] += w.types()[i % HIDDEN];
            }
            String cumulative = op("CumSum", List.of(mask, ints32(fresh("axis"), 1)));
            positionIds = op("Add", List.of(op("Mul", List.of(cumulative, mask)), ints32(fresh("padding"), PADDING_IDX)));
        }
        String out = fresh("embedded");
        String maskIndex = fresh("mask_index");
        List<String> inputs = new ArrayList<>(List.of(ids, segments, init("word_embeddings", w.word(), VOCAB, HIDDEN),
                init("position_embeddings", positionTable, positionTable.length / HIDDEN, HIDDEN), segmentTable,
                init("embeddings_gamma", w.embGamma(), HIDDEN), init("embeddings_beta", w.embBeta(), HIDDEN), mask));
        if (!positionIds.isEmpty()) {
            inputs.add(positionIds);
        }
        g.addNode(NodeProto.newBuilder().setOpType("EmbedLayerNormalization").setDomain("com.microsoft").setName(out + "_node")
                .addAllInput(inputs).addOutput(out).addOutput(maskIndex).addAttribute(floatAttr("epsilon", EPSILON)));
        return new String[] {out, maskIndex};
    }

    private String layer(String x, String extendedMask, float[][] p, int l) {
        int head = HIDDEN / HEADS;
        String q = heads(linear(x, p[0], p[1], HIDDEN, HIDDEN), 0, 2, 1, 3);
        String k = heads(linear(x, p[2], p[3], HIDDEN, HIDDEN), 0, 2, 3, 1);
        String v = heads(linear(x, p[4], p[5], HIDDEN, HIDDEN), 0, 2, 1, 3);
        String scores = op("Div", List.of(op("MatMul", List.of(q, k)), scalar((float) Math.sqrt(head))));
        String probs = op("Softmax", List.of(op("Add", List.of(scores, extendedMask))), intAttr("axis", -1));
        String context = op("Reshape", List.of(op("Transpose", List.of(op("MatMul", List.of(probs, v))), ints("perm", 0, 2, 1, 3)),
                longs(fresh("shape"), new long[] {3}, new long[] {0, 0, HIDDEN})));
        String attended = layerNorm(op("Add", List.of(linear(context, p[6], p[7], HIDDEN, HIDDEN), x)), p[8], p[9]);
        String intermediate = gelu(linear(attended, p[10], p[11], HIDDEN, FFN));
        return layerNorm(op("Add", List.of(linear(intermediate, p[12], p[13], FFN, HIDDEN), attended)), p[14], p[15]);
    }

    private String fusedLayer(String x, String maskIndex, float[][] p, int l) {
        // query, key and value weights side by side: [hidden, 3 hidden], and their biases
        float[] qkv = new float[HIDDEN * 3 * HIDDEN];
        float[] qkvBias = new float[3 * HIDDEN];
        for (int part = 0; part < 3; part++) {
            for (int r = 0; r < HIDDEN; r++) {
                System.arraycopy(p[2 * part], r * HIDDEN, qkv, r * 3 * HIDDEN + part * HIDDEN, HIDDEN);
            }
            System.arraycopy(p[2 * part + 1], 0, qkvBias, part * HIDDEN, HIDDEN);
        }
        String context = fresh("attention");
        g.addNode(NodeProto.newBuilder().setOpType("Attention").setDomain("com.microsoft").setName(context + "_node")
                .addInput(x).addInput(init("qkv_weight", qkv, HIDDEN, 3 * HIDDEN)).addInput(init("qkv_bias", qkvBias, 3 * HIDDEN))
                .addInput(maskIndex).addOutput(context).addAttribute(intAttr("num_heads", HEADS)));
        String attended = skipLayerNorm(op("MatMul", List.of(context, init("attention_output", p[6], HIDDEN, HIDDEN))), x,
                p[8], p[9], p[7]);
        String intermediate = fresh("bias_gelu");
        g.addNode(NodeProto.newBuilder().setOpType("BiasGelu").setDomain("com.microsoft").setName(intermediate + "_node")
                .addInput(op("MatMul", List.of(attended, init("intermediate", p[10], HIDDEN, FFN)))).addInput(init("intermediate_bias", p[11], FFN))
                .addOutput(intermediate));
        return skipLayerNorm(op("MatMul", List.of(intermediate, init("output", p[12], FFN, HIDDEN))), attended, p[14], p[15], p[13]);
    }

    private String skipLayerNorm(String input, String skip, float[] gamma, float[] beta, float[] bias) {
        String out = fresh("skip_layer_norm");
        g.addNode(NodeProto.newBuilder().setOpType("SkipLayerNormalization").setDomain("com.microsoft").setName(out + "_node")
                .addInput(input).addInput(skip).addInput(init("gamma", gamma, HIDDEN)).addInput(init("beta", beta, HIDDEN))
                .addInput(init("bias", bias, HIDDEN)).addOutput(out).addAttribute(floatAttr("epsilon", EPSILON)));
        return out;
    }

    /** [batch, seq, hidden] to [batch, heads, ., .] in the order {@code perm} of (batch, seq, head, head size). */
    private String heads(String x, long... perm) {
        String split = op("Reshape", List.of(x, longs(fresh("shape"), new long[] {4}, new long[] {0, 0, HEADS, HIDDEN / HEADS})));
        return op("Transpose", List.of(split), ints("perm", perm));
    }

    private String linear(String x, float[] weight, float[] bias, int in, int out) {
        return op("Add", List.of(op("MatMul", List.of(x, init("weight", weight, in, out))), init("bias", bias, out)));
    }

    /** Gelu as torch exports it before opset 20: x 0.5 (1 + erf(x / sqrt 2)). */
    private String gelu(String x) {
        String erf = op("Erf", List.of(op("Div", List.of(x, scalar((float) Math.sqrt(2))))));
        return op("Mul", List.of(op("Mul", List.of(x, op("Add", List.of(erf, scalar(1f))))), scalar(0.5f)));
    }

    /** LayerNorm over the last axis: LayerNormalization from opset 17, decomposed (with Pow) before. */
    private String layerNorm(String x, float[] gamma, float[] beta) {
        String scale = init("gamma", gamma, HIDDEN);
        String shift = init("beta", beta, HIDDEN);
        if (opset >= 17) {
            return op("LayerNormalization", List.of(x, scale, shift), intAttr("axis", -1), floatAttr("epsilon", EPSILON));
        }
        String centered = op("Sub", List.of(x, reduceMean(x)));
        String variance = reduceMean(op("Pow", List.of(centered, scalar(2f))));
        String normalized = op("Div", List.of(centered, op("Sqrt", List.of(op("Add", List.of(variance, scalar(EPSILON)))))));
        return op("Add", List.of(op("Mul", List.of(normalized, scale)), shift));
    }

    private String reduceMean(String x) {
        if (opset >= 18) {
            return op("ReduceMean", List.of(x, longs(fresh("axes"), new long[] {1}, new long[] {-1})));
        }
        return op("ReduceMean", List.of(x), ints("axes", -1));
    }

    private String unsqueeze(String x, long... axes) {
        if (opset >= 13) {
            return op("Unsqueeze", List.of(x, longs(fresh("axes"), new long[] {axes.length}, axes)));
        }
        return op("Unsqueeze", List.of(x), ints("axes", axes));
    }

    private String op(String type, List<String> inputs, AttributeProto... attributes) {
        String out = fresh(type.toLowerCase(Locale.ROOT));
        g.addNode(NodeProto.newBuilder().setOpType(type).setName(out + "_node").addAllInput(inputs).addOutput(out)
                .addAllAttribute(List.of(attributes)));
        return out;
    }

    private String fresh(String hint) {
        return "/" + hint + "_" + counter++;
    }

    private String init(String hint, float[] values, long... dims) {
        String name = fresh(hint);
        g.addInitializer(floats(name, dims, values));
        return name;
    }

    private String longs(String name, long[] dims, long[] values) {
        g.addInitializer(dev.igate.predictor.onnx.OnnxProtos.longs(name, dims, values));
        return name;
    }

    private String ints32(String name, int value) {
        g.addInitializer(TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.INT32_VALUE).addInt32Data(value));
        return name;
    }

    private String scalar(float value) {
        return init("const", new float[] {value});
    }

    /** DistilBERT's fixed sinusoidal position table. */
    private static float[] sinusoidal(int positions) {
        float[] t = new float[positions * HIDDEN];
        for (int p = 0; p < positions; p++) {
            for (int j = 0; j < HIDDEN; j++) {
                double angle = p / Math.pow(10000, 2.0 * (j / 2) / HIDDEN);
                t[p * HIDDEN + j] = (float) (j % 2 == 0 ? Math.sin(angle) : Math.cos(angle));
            }
        }
        return t;
    }

    private static float[] gaussian(Random random, int n, double scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextGaussian() * scale);
        }
        return v;
    }

    private static float[] around(Random random, int n, double mean, double scale) {
        float[] v = gaussian(random, n, scale);
        for (int i = 0; i < n; i++) {
            v[i] += (float) mean;
        }
        return v;
    }

    /** Writes a servable version folder: model.onnx, the MiniLM tokenizer.json and a config.json with three labels. */
    public static void write(Path versionDir, ModelProto model) throws IOException {
        write(versionDir, model, LABELS, null);
    }

    /**
     * Writes a servable version folder: model.onnx, the MiniLM tokenizer.json and a config.json with
     * {@code labels} and, unless null, {@code problem_type}.
     */
    public static void write(Path versionDir, ModelProto model, List<String> labels, String problemType) throws IOException {
        Files.createDirectories(versionDir);
        OnnxProtos.write(versionDir.resolve(ModelRepository.MODEL_FILE), model);
        try (InputStream in = TinyEncoder.class.getResourceAsStream(DemoRepository.TOKENIZER_RESOURCE)) {
            if (in == null) {
                throw new IOException("tokenizer resource missing");
            }
            Files.copy(in, versionDir.resolve(ModelRepository.TOKENIZER_FILE), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        StringBuilder id2label = new StringBuilder();
        for (int i = 0; i < labels.size(); i++) {
            id2label.append(i == 0 ? "" : ", ").append('"').append(i).append("\": \"").append(labels.get(i)).append('"');
        }
        String problem = problemType == null ? "" : ", \"problem_type\": \"" + problemType + "\"";
        Files.writeString(versionDir.resolve(ModelRepository.CONFIG_FILE), "{\"model_type\": \"tiny-encoder\", \"max_position_embeddings\": "
                + MAX_POSITIONS + problem + ", \"id2label\": {" + id2label + "}}\n");
    }
}
