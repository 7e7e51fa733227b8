package dev.igate.explainer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import ai.onnx.proto.OnnxMl.ModelProto;
import dev.igate.demo.DemoRepository;
import dev.igate.demo.DynamicQuantizer;
import dev.igate.demo.LabelledSentence;
import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.SessionSettings;
import dev.igate.predictor.onnx.OnnxProtos;
import dev.igate.protocol.Tensor;
import dev.igate.transformer.TextEncoder;
import dev.igate.transformer.TokenBatch;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The demo model (version 1) int8-quantized as ONNX Runtime's dynamic quantizer writes it
 * ({@link DynamicQuantizer}), weights per tensor (its default) and per output channel: explained
 * through straight-through gradients of the quantized graph as ONNX Runtime optimizes it (fused
 * DynamicQuantizeMatMul, MatMulIntegerToFloat), and compared with the float model's explanations
 * of the seed sentence and the first 30 sentences of the demo data set.
 */
class QuantizedModelExplainerIT {

    static final SessionSettings CPU = new SessionSettings("cpu", 0, 1, "all");
    static final int STEPS = 50;
    static IntegratedGradients fp32;
    static IntegratedGradients perTensor;
    static IntegratedGradients perChannel;
    static Path perTensorFile;
    static final List<IntegratedGradients.Sample> samples = new ArrayList<>();
    static final List<Attribution> fp32Attributions = new ArrayList<>();

    @BeforeAll
    static void prepare() throws Exception {
        Path root = Path.of("target", "test-models").toAbsolutePath();
        DemoRepository.ensure(root);
        Path dir = root.resolve(DemoRepository.MODEL_NAME).resolve("1");
        ModelProto model;
        try (var in = Files.newInputStream(dir.resolve("model.onnx"))) {
            model = OnnxProtos.parse(in);
        }
        perTensorFile = root.resolve("int8-per-tensor.onnx");
        Path perChannelFile = root.resolve("int8-per-channel.onnx");
        Files.write(perTensorFile, DynamicQuantizer.quantize(model, false).toByteArray());
        Files.write(perChannelFile, DynamicQuantizer.quantize(model, true).toByteArray());
        fp32 = IntegratedGradients.prepare(dir.resolve("model.onnx"), "logits", CPU);
        perTensor = IntegratedGradients.prepare(perTensorFile, "logits", CPU);
        perChannel = IntegratedGradients.prepare(perChannelFile, "logits", CPU);
        List<String> texts = new ArrayList<>(List.of(DemoModelExplainerIT.SEED));
        LabelledSentence.dataset().stream().limit(30).forEach(s -> texts.add(s.text()));
        try (TextEncoder encoder = TextEncoder.load(dir.resolve("tokenizer.json"), 128)) {
            for (String text : texts) {
                TokenBatch batch = encoder.encode(List.of(text));
                long[] ids = batch.ids(0);
                long[] baseline = ids.clone();
                for (int i = 1; i < baseline.length - 1; i++) {
                    baseline[i] = 0;
                }
                IntegratedGradients.Sample s = new IntegratedGradients.Sample(ids, batch.attentionMask().clone(),
                        batch.typeIds().clone(), baseline);
                samples.add(s);
                fp32Attributions.add(fp32.attribute(s, -1, Quadrature.of(Quadrature.GAUSS_LEGENDRE, STEPS), IntegratedGradients.GRAPH, 0));
            }
        }
    }

    @AfterAll
    static void close() {
        fp32.close();
        perTensor.close();
        perChannel.close();
    }

    /** Cosines of the int8 model's importances with the float model's, one per sentence. */
    static double[] cosines(IntegratedGradients int8, String which) {
        double[] out = new double[samples.size()];
        StringBuilder report = new StringBuilder();
        for (int i = 0; i < samples.size(); i++) {
            Attribution f = fp32Attributions.get(i);
            Attribution q = int8.attribute(samples.get(i), f.target(), Quadrature.of(Quadrature.GAUSS_LEGENDRE, STEPS),
                    IntegratedGradients.GRAPH, 0);
            out[i] = DemoModelExplainerIT.cosine(q.scores(), f.scores());
            report.append(String.format(" %.4f", out[i]));
        }
        System.out.println("int8 " + which + " vs fp32 importances, cosine per sentence:" + report);
        return out;
    }

    @Test
    void theQuantizedGraphIsDifferentiatedNotLeftToTheBlackBox() {
        Attribution a = perTensor.attribute(samples.get(0), -1, Quadrature.of(Quadrature.GAUSS_LEGENDRE, 16), null, 0);

        assertThat(perTensor.hasGradientGraph()).isTrue();
        // through ONNX Runtime's fused DynamicQuantizeMatMul and MatMulIntegerToFloat, as served
        assertThat(perTensor.differentiatedGraph()).isEqualTo("optimized");
        assertThat(perTensor.quantizationEmulated()).isTrue();
        assertThat(a.gradients()).isEqualTo(IntegratedGradients.GRAPH);
    }

    @Test
    void perChannelInt8ImportancesAgreeWithTheFloatModelsOnEverySentence() {
        assertThat(java.util.Arrays.stream(cosines(perChannel, "per channel")).min().orElseThrow()).isGreaterThanOrEqualTo(0.95);
    }

    @Test
    void perTensorInt8ImportancesAgreeWithTheFloatModelsWithinItsLargerWeightError() {
        // per-tensor int8 weights move the model itself more: 30 of 31 sentences reach 0.95, the last 0.944
        double[] c = cosines(perTensor, "per tensor");

        assertThat(java.util.Arrays.stream(c).min().orElseThrow()).isGreaterThanOrEqualTo(0.93);
        assertThat(java.util.Arrays.stream(c).filter(v -> v >= 0.95).count()).isGreaterThanOrEqualTo(c.length - 2L);
    }

    @Test
    void pathPointsBatchedTogetherGetTheGradientsEachGetsAlone() {
        // the emulated per-row quantization: two points of one path, batched, answer as they do alone
        assertThat(perTensor.quantizationEmulated()).isTrue();
        IntegratedGradients.Sample s = samples.get(2);
        int width = s.ids().length * perTensor.embeddings().hidden();
        float[] x = new float[width];
        perTensor.embeddings().lookup(s.ids(), x, 0);
        float[] both = new float[2 * width];
        for (int j = 0; j < width; j++) {
            both[j] = 0.3f * x[j];
            both[width + j] = 0.9f * x[j];
        }
        float[] together = perTensor.gradients(s, both, 2, 0);
        float[] first = perTensor.gradients(s, java.util.Arrays.copyOfRange(both, 0, width), 1, 0);
        float[] second = perTensor.gradients(s, java.util.Arrays.copyOfRange(both, width, 2 * width), 1, 0);

        for (int j = 0; j < width; j++) {
            assertThat(together[j]).isCloseTo(first[j], org.assertj.core.data.Offset.offset(1e-4f + 1e-3f * Math.abs(first[j])));
            assertThat(together[width + j]).isCloseTo(second[j], org.assertj.core.data.Offset.offset(1e-4f + 1e-3f * Math.abs(second[j])));
        }
    }

    @Test
    void theLogitsExplainedAreThoseOfThePlainOnnxRuntimeSession() throws Exception {
        // a row alone, through the graph as the serving session optimizes it: what /infer answers for the text
        IntegratedGradients.Sample s = samples.get(1);
        Attribution q = perTensor.attribute(s, -1, Quadrature.of(Quadrature.GAUSS_LEGENDRE, 8), IntegratedGradients.GRAPH, 0);
        long[] shape = {1, s.ids().length};
        try (OnnxModel plain = OnnxModel.load(Files.readAllBytes(perTensorFile), CPU, "plain int8")) {
            float[] logits = plain.run(List.of(Tensor.ofLongs("input_ids", shape, s.ids()),
                    Tensor.ofLongs("attention_mask", shape, s.mask()), Tensor.ofLongs("token_type_ids", shape, s.types())),
                    List.of("logits")).get(0).floats();

            assertThat(q.logits()).containsExactly(logits, org.assertj.core.data.Offset.offset(1e-5f));
        }
    }
}
