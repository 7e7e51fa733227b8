package dev.igate.grpc;

import java.util.List;
import java.util.Map;

import com.google.protobuf.ByteString;
import dev.igate.grpc.v2.InferParameter;
import dev.igate.grpc.v2.InferTensorContents;
import dev.igate.grpc.v2.ModelInferRequest;
import dev.igate.grpc.v2.ModelInferResponse;
import dev.igate.protocol.Datatype;
import dev.igate.protocol.InferenceRequest;
import dev.igate.protocol.InferenceResponse;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Tensor;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class GrpcCodecTests {

    private static final List<Tensor> EVERY_TYPE = List.of(
            new Tensor("bool", Datatype.BOOL, new long[] {2}, new boolean[] {true, false}),
            new Tensor("u8", Datatype.UINT8, new long[] {2}, new byte[] {(byte) 255, 1}),
            new Tensor("u16", Datatype.UINT16, new long[] {1}, new short[] {(short) 65535}),
            new Tensor("u32", Datatype.UINT32, new long[] {1}, new int[] {-1}),
            new Tensor("u64", Datatype.UINT64, new long[] {1}, new long[] {Long.MAX_VALUE}),
            new Tensor("i8", Datatype.INT8, new long[] {2}, new byte[] {-128, 127}),
            new Tensor("i16", Datatype.INT16, new long[] {1}, new short[] {-32768}),
            new Tensor("i32", Datatype.INT32, new long[] {2}, new int[] {Integer.MIN_VALUE, 7}),
            new Tensor("i64", Datatype.INT64, new long[] {1, 2}, new long[] {Long.MIN_VALUE, 3}),
            new Tensor("fp32", Datatype.FP32, new long[] {2, 1}, new float[] {1.5f, -2.25f}),
            new Tensor("fp64", Datatype.FP64, new long[] {1}, new double[] {Math.PI}),
            Tensor.ofStrings("text", new long[] {2}, "héllo", ""));

    private static ModelInferRequest.InferInputTensor.Builder input(Tensor t) {
        ModelInferRequest.InferInputTensor.Builder b = ModelInferRequest.InferInputTensor.newBuilder()
                .setName(t.name()).setDatatype(t.datatype().name());
        for (long d : t.shape()) {
            b.addShape(d);
        }
        return b;
    }

    private static ModelInferRequest.Builder request() {
        return ModelInferRequest.newBuilder().setModelName("m");
    }

    @Test
    void typedContentsOfEveryDatatypeDecodeToTheSameTensors() {
        // given
        ModelInferRequest.Builder r = request().setId("abc");
        EVERY_TYPE.forEach(t -> r.addInputs(input(t).setContents(GrpcCodec.contents(t))));
        // when
        InferenceRequest decoded = GrpcCodec.decodeInfer(r.build());
        // then
        assertThat(decoded.inputs()).isEqualTo(EVERY_TYPE);
        assertThat(decoded.id()).isEqualTo("abc");
        assertThat(decoded.version()).isNull();
        assertThat(decoded.binaryOutputs()).isEmpty();
    }

    @Test
    void rawContentsOfEveryDatatypeDecodeToTheSameTensorsAndAskForRawOutputs() {
        // given
        ModelInferRequest.Builder r = request();
        EVERY_TYPE.forEach(t -> r.addInputs(input(t)).addRawInputContents(GrpcCodec.raw(t)));
        // when
        InferenceRequest decoded = GrpcCodec.decodeInfer(r.build());
        // then
        assertThat(decoded.inputs()).isEqualTo(EVERY_TYPE);
        assertThat(decoded.binary("anything")).isTrue();
    }

    @Test
    void halfPrecisionTravelsRawOnly() {
        Tensor half = new Tensor("h", Datatype.FP16, new long[] {2}, new float[] {0.5f, -1f});
        InferenceRequest raw = GrpcCodec.decodeInfer(request().addInputs(input(half)).addRawInputContents(GrpcCodec.raw(half)).build());
        assertThat(raw.inputs()).containsExactly(half);
        assertThatThrownBy(() -> GrpcCodec.decodeInfer(request().addInputs(input(half)
                .setContents(InferTensorContents.newBuilder().addFp32Contents(0.5f).addFp32Contents(-1f))).build()))
                .isInstanceOf(InvalidInputException.class).hasMessageContaining("raw_input_contents");
    }

    @Test
    void responsesRoundTripTypedAndRaw() {
        // given
        InferenceResponse response = new InferenceResponse("id-1", "m", "2", EVERY_TYPE, Map.of("k", 3L));
        // when
        ModelInferResponse typed = GrpcCodec.encodeInfer(response, false);
        ModelInferResponse raw = GrpcCodec.encodeInfer(response, true);
        // then
        assertThat(typed.getRawOutputContentsCount()).isZero();
        assertThat(raw.getRawOutputContentsCount()).isEqualTo(EVERY_TYPE.size());
        assertThat(GrpcCodec.decodeOutputs(typed)).isEqualTo(EVERY_TYPE);
        assertThat(GrpcCodec.decodeOutputs(raw)).isEqualTo(EVERY_TYPE);
        assertThat(typed.getId()).isEqualTo("id-1");
        assertThat(typed.getModelVersion()).isEqualTo("2");
        assertThat(typed.getParametersMap().get("k").getInt64Param()).isEqualTo(3L);
    }

    @Test
    void declaredElementsAddUpShapesWithoutDecodingAndSaturate() {
        ModelInferRequest r = request()
                .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("a").setDatatype("BYTES").addShape(3).addShape(4))
                .addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("b").setDatatype("FP32").addShape(5))
                .build();
        assertThat(GrpcCodec.declaredElements(r)).isEqualTo(17);
        assertThat(GrpcCodec.declaredElements(r.toBuilder().addInputs(ModelInferRequest.InferInputTensor.newBuilder()
                .setName("c").addShape(Long.MAX_VALUE).addShape(3)).build())).isEqualTo(Long.MAX_VALUE);
        assertThat(GrpcCodec.declaredElements(r.toBuilder().addInputs(ModelInferRequest.InferInputTensor.newBuilder()
                .setName("d").addShape(-1).addShape(3)).build())).isEqualTo(17);
    }

    @Test
    void parametersKeepTheirKinds() {
        // given
        ModelInferRequest r = request().addInputs(input(EVERY_TYPE.get(0)).setContents(GrpcCodec.contents(EVERY_TYPE.get(0))))
                .putParameters("b", InferParameter.newBuilder().setBoolParam(true).build())
                .putParameters("i", InferParameter.newBuilder().setInt64Param(-4).build())
                .putParameters("s", InferParameter.newBuilder().setStringParam("x").build())
                .putParameters("d", InferParameter.newBuilder().setDoubleParam(0.5).build())
                .putParameters("u", InferParameter.newBuilder().setUint64Param(9).build())
                .putParameters(GrpcCodec.BINARY_DATA_OUTPUT, InferParameter.newBuilder().setBoolParam(true).build())
                .build();
        // when
        InferenceRequest decoded = GrpcCodec.decodeInfer(r);
        // then
        assertThat(decoded.parameters()).containsEntry("b", true).containsEntry("i", -4L).containsEntry("s", "x")
                .containsEntry("d", 0.5).containsEntry("u", 9L);
        assertThat(decoded.binary("x")).isTrue();
        assertThat(GrpcCodec.parameter(List.of("a", "b")).getStringParam()).isEqualTo("[\"a\",\"b\"]");
    }

    @Test
    void malformedRequestsAreInvalidInputNamingTheProblem() {
        Tensor f = EVERY_TYPE.get(9);
        InferTensorContents fp32 = GrpcCodec.contents(f);
        assertInvalid(ModelInferRequest.newBuilder().addInputs(input(f).setContents(fp32)), "model_name");
        assertInvalid(request(), "inputs");
        assertInvalid(request().addInputs(input(f).setContents(fp32)).addInputs(input(f).setContents(fp32)), "Duplicate input name fp32");
        assertInvalid(request().addInputs(input(f).setContents(fp32)).addRawInputContents(GrpcCodec.raw(f)), "one or the other");
        assertInvalid(request().addInputs(input(f)).addInputs(input(EVERY_TYPE.get(0))).addRawInputContents(GrpcCodec.raw(f)),
                "one per input");
        assertInvalid(request().addInputs(input(f).setContents(InferTensorContents.newBuilder().addFp32Contents(1f))),
                "2 elements by its shape but 1");
        assertInvalid(request().addInputs(input(f).setContents(InferTensorContents.newBuilder().addInt64Contents(1).addInt64Contents(2))),
                "another datatype");
        assertInvalid(request().addInputs(input(f).clearShape().addShape(-1).setContents(fp32)), "every dimension");
        assertInvalid(request().addInputs(input(f).setDatatype("FLOAT").setContents(fp32)), "Unknown datatype FLOAT");
        assertInvalid(request().addInputs(input(f).clearShape().addShape(Long.MAX_VALUE).addShape(2).setContents(fp32)),
                "more elements than a tensor can");
        // a few bytes cannot declare two billion BYTES elements (checked before anything is allocated)
        assertInvalid(request().addInputs(ModelInferRequest.InferInputTensor.newBuilder().setName("t").setDatatype("BYTES")
                .addShape(2_000_000_000L)).addRawInputContents(ByteString.copyFrom(new byte[8])), "too few for 2000000000 elements");
        Tensor big = new Tensor("u", Datatype.UINT64, new long[] {1}, new long[] {-1L});
        assertInvalid(request().addInputs(input(big)).addRawInputContents(GrpcCodec.raw(big)), "18446744073709551615 is out of range");
        assertInvalid(request().addInputs(input(f).setName("").setContents(fp32)), "non-empty name");
        assertInvalid(request().addInputs(input(f)).addRawInputContents(ByteString.copyFrom(new byte[7])), "elements take 8");
        assertInvalid(request().addInputs(input(EVERY_TYPE.get(5)).setContents(InferTensorContents.newBuilder()
                .addIntContents(1).addIntContents(300))), "out of range for INT8");
        assertInvalid(request().addInputs(input(f).setContents(InferTensorContents.newBuilder()
                .addFp32Contents(Float.NaN).addFp32Contents(1))), "non-finite");
        assertInvalid(request().addInputs(input(f).setContents(fp32))
                .putParameters("p", InferParameter.getDefaultInstance()), "has no value");
    }

    private static void assertInvalid(ModelInferRequest.Builder request, String message) {
        assertThatThrownBy(() -> GrpcCodec.decodeInfer(request.build()))
                .isInstanceOf(InvalidInputException.class).hasMessageContaining(message);
    }
}
