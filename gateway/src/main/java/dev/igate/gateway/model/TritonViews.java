package dev.igate.gateway.model;

import java.util.ArrayList;
import java.util.List;

import dev.igate.grpc.v2.DataType;
import dev.igate.grpc.v2.ModelConfig;
import dev.igate.grpc.v2.ModelDynamicBatching;
import dev.igate.grpc.v2.ModelInput;
import dev.igate.grpc.v2.ModelInstanceGroup;
import dev.igate.grpc.v2.ModelOutput;
import dev.igate.grpc.v2.ModelParameter;
import dev.igate.grpc.v2.ModelQueuePolicy;
import dev.igate.grpc.v2.RepositoryIndexResponse;
import dev.igate.predictor.ExecutionProvider;
import dev.igate.predictor.batching.BatchingSettings;
import dev.igate.protocol.Datatype;
import dev.igate.protocol.Json;
import dev.igate.protocol.TensorMetadata;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * A served version as Triton's model configuration (model_config.proto) and a repository index
 * entry, for its model configuration and model repository extensions: the gRPC message, and the
 * same as REST JSON with Triton's field names and numbers as numbers.
 */
public final class TritonViews {

    private TritonViews() {
    }

    static DataType dataType(Datatype d) {
        return switch (d) {
            case BOOL -> DataType.TYPE_BOOL;
            case UINT8 -> DataType.TYPE_UINT8;
            case UINT16 -> DataType.TYPE_UINT16;
            case UINT32 -> DataType.TYPE_UINT32;
            case UINT64 -> DataType.TYPE_UINT64;
            case INT8 -> DataType.TYPE_INT8;
            case INT16 -> DataType.TYPE_INT16;
            case INT32 -> DataType.TYPE_INT32;
            case INT64 -> DataType.TYPE_INT64;
            case FP16 -> DataType.TYPE_FP16;
            case FP32 -> DataType.TYPE_FP32;
            case FP64 -> DataType.TYPE_FP64;
            case BYTES -> DataType.TYPE_STRING;
            case BF16 -> DataType.TYPE_BF16;
        };
    }

    /** A tensor's dims without the batch axis, as Triton declares them when max_batch_size > 0. */
    private static List<Long> dims(long[] shape) {
        List<Long> dims = new ArrayList<>();
        for (int i = 1; i < shape.length; i++) {
            dims.add(shape[i]);
        }
        return dims;
    }

    /** The model configuration of a served version. */
    public static ModelConfig config(ServedModel model) {
        BatchingSettings batching = model.batching();
        ModelConfig.Builder b = ModelConfig.newBuilder().setName(model.name()).setMaxBatchSize(batching.maxBatchSize())
                .setDefaultModelFilename("model.onnx")
                .setDynamicBatching(ModelDynamicBatching.newBuilder()
                        .setMaxQueueDelayMicroseconds(batching.maxLatency().toNanos() / 1000)
                        .setDefaultQueuePolicy(ModelQueuePolicy.newBuilder()
                                .setDefaultTimeoutMicroseconds(batching.timeout().toNanos() / 1000)
                                .setAllowTimeoutOverride(true).setMaxQueueSize(batching.queueCapacity())));
        if (model instanceof RemoteModel) {
            // a transformer in front of a remote predictor: texts in, labels out
            b.setPlatform("igate_transformer").setBackend("igate")
                    .addInput(ModelInput.newBuilder().setName("text").setDataType(DataType.TYPE_STRING).addDims(1))
                    .addOutput(ModelOutput.newBuilder().setName("predict").setDataType(DataType.TYPE_STRING).addDims(1));
        } else if (model instanceof LocalModel local) {
            b.setPlatform(local.platform()).setBackend("onnxruntime");
            for (TensorMetadata in : local.inputs()) {
                b.addInput(ModelInput.newBuilder().setName(in.name()).setDataType(dataType(in.datatype())).addAllDims(dims(in.shape())));
            }
            for (TensorMetadata out : local.outputs()) {
                b.addOutput(ModelOutput.newBuilder().setName(out.name()).setDataType(dataType(out.datatype()))
                        .addAllDims(dims(out.shape())));
            }
            b.addInstanceGroup(ModelInstanceGroup.newBuilder().setName(model.name() + "_0")
                    .setKind(local.onnx().provider() == ExecutionProvider.CUDA ? ModelInstanceGroup.Kind.KIND_GPU
                            : ModelInstanceGroup.Kind.KIND_CPU)
                    .setCount(local.sessions().layout().instances()));
        }
        if (model.task() != null) {
            b.putParameters("task", ModelParameter.newBuilder().setStringValue(model.task().problemType()).build());
            b.putParameters("labels", ModelParameter.newBuilder().setStringValue(String.join(",", model.task().labels())).build());
        }
        return b.build();
    }

    /** The model configuration as Triton's REST answer. */
    public static ObjectNode json(ModelConfig c) {
        ObjectNode o = Json.object();
        o.put("name", c.getName());
        o.put("platform", c.getPlatform());
        o.put("backend", c.getBackend());
        o.put("max_batch_size", c.getMaxBatchSize());
        o.put("default_model_filename", c.getDefaultModelFilename());
        ArrayNode inputs = o.putArray("input");
        for (ModelInput in : c.getInputList()) {
            ObjectNode i = inputs.addObject();
            i.put("name", in.getName());
            i.put("data_type", in.getDataType().name());
            in.getDimsList().forEach(i.putArray("dims")::add);
        }
        ArrayNode outputs = o.putArray("output");
        for (ModelOutput out : c.getOutputList()) {
            ObjectNode i = outputs.addObject();
            i.put("name", out.getName());
            i.put("data_type", out.getDataType().name());
            out.getDimsList().forEach(i.putArray("dims")::add);
        }
        ArrayNode groups = o.putArray("instance_group");
        for (ModelInstanceGroup g : c.getInstanceGroupList()) {
            ObjectNode i = groups.addObject();
            i.put("name", g.getName());
            i.put("kind", g.getKind().name());
            i.put("count", g.getCount());
        }
        ModelDynamicBatching d = c.getDynamicBatching();
        ObjectNode batching = o.putObject("dynamic_batching");
        batching.putArray("preferred_batch_size");
        batching.put("max_queue_delay_microseconds", d.getMaxQueueDelayMicroseconds());
        ObjectNode policy = batching.putObject("default_queue_policy");
        policy.put("timeout_action", d.getDefaultQueuePolicy().getTimeoutAction().name());
        policy.put("default_timeout_microseconds", d.getDefaultQueuePolicy().getDefaultTimeoutMicroseconds());
        policy.put("allow_timeout_override", d.getDefaultQueuePolicy().getAllowTimeoutOverride());
        policy.put("max_queue_size", d.getDefaultQueuePolicy().getMaxQueueSize());
        ObjectNode parameters = o.putObject("parameters");
        c.getParametersMap().forEach((k, v) -> parameters.putObject(k).put("string_value", v.getStringValue()));
        return o;
    }

    /** One repository index entry: name, version, state (READY, LOADING, UNAVAILABLE) and reason. */
    public record IndexEntry(String name, String version, String state, String reason) {

        public RepositoryIndexResponse.ModelIndex toProto() {
            return RepositoryIndexResponse.ModelIndex.newBuilder().setName(name).setVersion(version == null ? "" : version)
                    .setState(state).setReason(reason == null ? "" : reason).build();
        }

        public ObjectNode toJson() {
            ObjectNode o = Json.object();
            o.put("name", name);
            if (version != null) {
                o.put("version", version);
            }
            o.put("state", state);
            o.put("reason", reason == null ? "" : reason);
            return o;
        }
    }
}
