package dev.igate.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.node.ArrayNode;

class ElementsTests {

    /** Extremes of each datatype, unsigned ones above their signed range included. */
    static final Map<Datatype, Object> EXTREMES = Map.ofEntries(
            Map.entry(Datatype.BOOL, new boolean[] {true, false}),
            Map.entry(Datatype.INT8, new byte[] {Byte.MIN_VALUE, Byte.MAX_VALUE}),
            Map.entry(Datatype.UINT8, new byte[] {0, (byte) 255}),
            Map.entry(Datatype.INT16, new short[] {Short.MIN_VALUE, Short.MAX_VALUE}),
            Map.entry(Datatype.UINT16, new short[] {0, (short) 65535}),
            Map.entry(Datatype.INT32, new int[] {Integer.MIN_VALUE, Integer.MAX_VALUE}),
            Map.entry(Datatype.UINT32, new int[] {0, (int) 0xFFFFFFFFL}),
            Map.entry(Datatype.INT64, new long[] {Long.MIN_VALUE, Long.MAX_VALUE}),
            Map.entry(Datatype.UINT64, new long[] {0, Long.MAX_VALUE}),
            Map.entry(Datatype.FP16, new float[] {65504f, -0.5f}),
            Map.entry(Datatype.BF16, new float[] {-2f, 0.5f}),
            Map.entry(Datatype.FP32, new float[] {Float.MAX_VALUE, -Float.MIN_VALUE}),
            Map.entry(Datatype.FP64, new double[] {Double.MAX_VALUE, -0.1}),
            Map.entry(Datatype.BYTES, new byte[][] {"héllo 🙂".getBytes(java.nio.charset.StandardCharsets.UTF_8), new byte[0]}));

    /** The elements as the generator writes them, read back. */
    static ArrayNode written(Datatype type, Object data) {
        return (ArrayNode) Json.MAPPER.readTree(Json.stream(g -> Elements.of(type).toJson(data, g)));
    }

    static List<JsonNode> leaves(ArrayNode array) {
        List<JsonNode> out = new ArrayList<>();
        array.forEach(out::add);
        return out;
    }

    @Test
    void everyDatatypeRoundTripsThroughJsonAndLittleEndianBytesAtItsExtremes() {
        assertThat(EXTREMES.keySet()).containsExactlyInAnyOrder(Datatype.values());
        EXTREMES.forEach((type, data) -> {
            Elements e = Elements.of(type);
            Tensor t = new Tensor("x", type, new long[] {2}, data);
            ArrayNode json = written(type, data);
            assertThat(new Tensor("x", type, new long[] {2}, e.fromJson("x", leaves(json)))).as(type + " JSON " + json).isEqualTo(t);
            byte[] bytes = e.toLittleEndian(data);
            ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            assertThat(new Tensor("x", type, new long[] {2}, e.fromLittleEndian("x", 2, b))).as(type + " bytes").isEqualTo(t);
            assertThat(e.javaType()).isEqualTo(data.getClass());
            assertThat(java.lang.reflect.Array.getLength(e.zeros(3))).isEqualTo(3);
        });
    }

    @Test
    void unsignedDatatypesWriteTheirUnsignedValues() {
        assertThat(written(Datatype.UINT32, EXTREMES.get(Datatype.UINT32)).toString()).isEqualTo("[0,4294967295]");
        assertThat(written(Datatype.UINT8, EXTREMES.get(Datatype.UINT8)).toString()).isEqualTo("[0,255]");
        assertThat(written(Datatype.BOOL, EXTREMES.get(Datatype.BOOL)).toString()).isEqualTo("[true,false]");
    }

    @Test
    void valuesOutsideTheDatatypeAreRefusedNamingTheInput() {
        ArrayNode big = Json.object().putArray("data").add(256);
        assertThatThrownBy(() -> Elements.of(Datatype.UINT8).fromJson("ids", leaves(big)))
                .isInstanceOf(InvalidInputException.class).hasMessage("Input ids value 256 is out of range for UINT8");
        ArrayNode text = Json.object().putArray("data").add("a");
        assertThatThrownBy(() -> Elements.of(Datatype.FP32).fromJson("x", leaves(text)))
                .isInstanceOf(InvalidInputException.class).hasMessage("Input x has datatype FP32 but holds a string");
        ByteBuffer negative = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, -1);
        assertThatThrownBy(() -> Elements.of(Datatype.UINT64).fromLittleEndian("u", 1, negative))
                .isInstanceOf(InvalidInputException.class).hasMessage("Input u value 18446744073709551615 is out of range for UINT64");
        ByteBuffer nan = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(0, Float.NaN);
        assertThatThrownBy(() -> Elements.of(Datatype.FP32).fromLittleEndian("f", 1, nan))
                .isInstanceOf(InvalidInputException.class).hasMessage("Input f holds a non-finite number");
    }
}
