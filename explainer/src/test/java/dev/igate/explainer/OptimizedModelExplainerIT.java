package dev.igate.explainer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import ai.onnx.proto.OnnxMl.ModelProto;
import dev.igate.demo.DemoRepository;
import dev.igate.demo.LabelledSentence;
import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.SessionSettings;
import dev.igate.predictor.onnx.OnnxProtos;
import dev.igate.transformer.TextEncoder;
import dev.igate.transformer.TokenBatch;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The demo model (version 1) as ONNX Runtime's optimizer saves it (SessionOptions' optimized-model
 * path, extended level: FusedMatMul and BiasGelu of com.microsoft), explained through the fused
 * operators' rules, against the unfused model differentiated as written (optimization off).
 */
class OptimizedModelExplainerIT {

    static IntegratedGradients unfused;
    static IntegratedGradients fused;
    static ModelProto fusedModel;
    static final List<IntegratedGradients.Sample> samples = new ArrayList<>();

    @BeforeAll
    static void prepare() throws Exception {
        Path root = Path.of("target", "test-models").toAbsolutePath();
        DemoRepository.ensure(root);
        Path dir = root.resolve(DemoRepository.MODEL_NAME).resolve("1");
        fusedModel = OnnxModel.optimized(OnnxProtos.read(dir.resolve("model.onnx")),
                new SessionSettings("cpu", 1, 1, "extended"), "demo model");
        Path fusedFile = root.resolve("fused-model.onnx");
        OnnxProtos.write(fusedFile, fusedModel);
        unfused = IntegratedGradients.prepare(dir.resolve("model.onnx"), "logits", new SessionSettings("cpu", 0, 1, "none"));
        fused = IntegratedGradients.prepare(fusedFile, "logits", new SessionSettings("cpu", 0, 1, "all"));
        List<String> texts = new ArrayList<>(List.of(DemoModelExplainerIT.SEED));
        LabelledSentence.dataset().stream().limit(10).forEach(s -> texts.add(s.text()));
        try (TextEncoder encoder = TextEncoder.load(dir.resolve("tokenizer.json"), 128)) {
            for (String text : texts) {
                TokenBatch batch = encoder.encode(List.of(text));
                long[] ids = batch.ids(0);
                long[] baseline = ids.clone();
                for (int i = 1; i < baseline.length - 1; i++) {
                    baseline[i] = 0;
                }
                samples.add(new IntegratedGradients.Sample(ids, batch.attentionMask().clone(), batch.typeIds().clone(), baseline));
            }
        }
    }

    @AfterAll
    static void close() {
        unfused.close();
        fused.close();
    }

    @Test
    void theSavedGraphHoldsOnnxRuntimesFusedOperators() {
        List<String> ops = fusedModel.getGraph().getNodeList().stream()
                .filter(n -> n.getDomain().equals("com.microsoft")).map(n -> n.getOpType()).distinct().toList();

        assertThat(ops).contains("FusedMatMul", "BiasGelu");
        assertThat(fused.hasGradientGraph()).isTrue();
        assertThat(fused.differentiatedGraph()).isEqualTo("optimized");
    }

    @Test
    void fusedImportancesAreTheUnfusedOnes() {
        StringBuilder report = new StringBuilder();
        double lowest = 1;
        for (IntegratedGradients.Sample s : samples) {
            Attribution a = unfused.attribute(s, -1, Quadrature.of(Quadrature.GAUSS_LEGENDRE, 32), IntegratedGradients.GRAPH, 0);
            Attribution b = fused.attribute(s, a.target(), Quadrature.of(Quadrature.GAUSS_LEGENDRE, 32), IntegratedGradients.GRAPH, 0);
            double cosine = DemoModelExplainerIT.cosine(a.scores(), b.scores());
            report.append(String.format(" %.6f", cosine));
            lowest = Math.min(lowest, cosine);
        }
        System.out.println("fused vs unfused importances, cosine per sentence:" + report);

        assertThat(lowest).isGreaterThanOrEqualTo(0.999);
    }
}
