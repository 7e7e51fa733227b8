package dev.igate.explainer;

import static dev.igate.predictor.onnx.OnnxProtos.tensorValueOfAnyShape;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.igate.predictor.ModelLoadException;
import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.SessionSettings;
import dev.igate.protocol.Tensor;

/**
 * Learns the shapes of intermediate float tensors by running the model once on sample inputs
 * with those tensors exposed as outputs. The caller chooses sample sizes with every variable
 * dimension greater than one, so a dimension of 1 in the result is structural (keepdims,
 * unsqueeze) and tells the gradient rules which axes were broadcast.
 */
final class ShapeProbe {

    private ShapeProbe() {
    }

    /**
     * @param tensors the tensors to measure, each with its element type, which the probe model
     *                declares for it as an output
     */
    static Map<String, long[]> shapes(ModelProto model, Map<String, TensorProto.DataType> tensors, List<Tensor> sampleInputs)
            throws GradientUnavailableException {
        GraphProto.Builder g = model.getGraph().toBuilder();
        List<String> existing = new ArrayList<>();
        g.getOutputList().forEach(o -> existing.add(o.getName()));
        List<String> names = new ArrayList<>();
        for (Map.Entry<String, TensorProto.DataType> t : tensors.entrySet()) {
            names.add(t.getKey());
            if (!existing.contains(t.getKey()) && g.getInputList().stream().noneMatch(i -> i.getName().equals(t.getKey()))) {
                g.addOutput(tensorValueOfAnyShape(t.getKey(), t.getValue()));
            }
        }
        ModelProto probe = model.toBuilder().setGraph(g).build();
        Map<String, long[]> shapes = new HashMap<>();
        for (Tensor in : sampleInputs) {
            if (tensors.containsKey(in.name())) {
                shapes.put(in.name(), in.shape());
            }
        }
        List<String> outputs = names.stream().filter(n -> !shapes.containsKey(n)).toList();
        try (OnnxModel session = OnnxModel.load(probe, new SessionSettings("cpu", 1, 1, "none"), "shape probe")) {
            List<Tensor> results = session.run(sampleInputs, outputs);
            for (Tensor t : results) {
                shapes.put(t.name(), t.shape());
            }
        } catch (ModelLoadException | RuntimeException e) {
            throw new GradientUnavailableException("Shape probe run failed: " + e.getMessage());
        }
        return shapes;
    }
}
