package dev.igate.explainer;

import static dev.igate.predictor.onnx.OnnxProtos.floats;
import static dev.igate.predictor.onnx.OnnxProtos.ints;
import static dev.igate.predictor.onnx.OnnxProtos.longs;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;

/**
 * Appends nodes to a graph with fresh names, and emits the few operators whose signature
 * changed between opsets 11 and 17 (ReduceSum and Unsqueeze take axes as an attribute before 13
 * and as an input from 13) in the form the model's opset expects.
 */
final class GraphWriter {

    private final GraphProto.Builder graph;
    private final int opset;
    private final Set<String> names = new HashSet<>();
    private final Map<String, String> shapes = new HashMap<>();
    private int counter;

    GraphWriter(GraphProto.Builder graph, int opset) {
        this.graph = graph;
        this.opset = opset;
        graph.getNodeList().forEach(n -> names.addAll(n.getOutputList()));
        graph.getInputList().forEach(i -> names.add(i.getName()));
        graph.getInitializerList().forEach(i -> names.add(i.getName()));
    }

    int opset() {
        return opset;
    }

    String fresh(String hint) {
        String name;
        do {
            name = "/grad/" + hint + "_" + counter++;
        } while (!names.add(name));
        return name;
    }

    /** Adds a single-output node and returns its output's name. */
    String op(String type, List<String> inputs, AttributeProto... attributes) {
        String out = fresh(type);
        graph.addNode(NodeProto.newBuilder().setOpType(type).setName(out + "_node")
                .addAllInput(inputs).addOutput(out).addAllAttribute(List.of(attributes)));
        return out;
    }

    String op(String type, String a, AttributeProto... attributes) {
        return op(type, List.of(a), attributes);
    }

    String op(String type, String a, String b, AttributeProto... attributes) {
        return op(type, List.of(a, b), attributes);
    }

    /** A FLOAT scalar constant. */
    String scalar(float value) {
        String name = fresh("const");
        graph.addInitializer(floats(name, new long[0], new float[] {value}));
        return name;
    }

    /** An INT64 scalar constant. */
    String int64(long value) {
        String name = fresh("const");
        graph.addInitializer(longs(name, new long[0], new long[] {value}));
        return name;
    }

    GraphProto.Builder graph() {
        return graph;
    }

    /** An INT64 vector constant. */
    String int64s(long... values) {
        String name = fresh("const");
        graph.addInitializer(longs(name, new long[] {values.length}, values));
        return name;
    }

    /** Shape of a tensor, computed once per tensor. */
    String shape(String x) {
        return shapes.computeIfAbsent(x, k -> op("Shape", k));
    }

    String reduceSum(String x, long[] axes, boolean keepdims) {
        AttributeProto keep = dev.igate.predictor.onnx.OnnxProtos.intAttr("keepdims", keepdims ? 1 : 0);
        if (opset >= 13) {
            return op("ReduceSum", List.of(x, int64s(axes)), keep);
        }
        return op("ReduceSum", List.of(x), ints("axes", axes), keep);
    }

    /** ReduceMean keeping dimensions; its axes are an input from opset 18 (an attribute before). */
    String reduceMean(String x, long[] axes) {
        AttributeProto keep = dev.igate.predictor.onnx.OnnxProtos.intAttr("keepdims", 1);
        if (opset >= 18) {
            return op("ReduceMean", List.of(x, int64s(axes)), keep);
        }
        return op("ReduceMean", List.of(x), ints("axes", axes), keep);
    }

    String unsqueeze(String x, long[] axes) {
        if (opset >= 13) {
            return op("Unsqueeze", List.of(x, int64s(axes)));
        }
        return op("Unsqueeze", List.of(x), ints("axes", axes));
    }

    String transpose(String x, long[] perm) {
        return op("Transpose", List.of(x), ints("perm", perm));
    }

    /** Reshapes {@code x} to the runtime shape of {@code like}. */
    String reshapeLike(String x, String like) {
        return op("Reshape", x, shape(like));
    }

    static long[] range(int from, int to) {
        long[] r = new long[Math.max(0, to - from)];
        for (int i = 0; i < r.length; i++) {
            r[i] = from + i;
        }
        return r;
    }

    static long[] toArray(List<Long> values) {
        return values.stream().mapToLong(Long::longValue).toArray();
    }

    static List<Long> list(long[] values) {
        List<Long> l = new ArrayList<>();
        for (long v : values) {
            l.add(v);
        }
        return l;
    }
}
