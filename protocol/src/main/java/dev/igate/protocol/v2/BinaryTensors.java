package dev.igate.protocol.v2;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import dev.igate.protocol.Datatype;
import dev.igate.protocol.Elements;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Tensor;

/**
 * The binary tensor data extension's element encoding: little-endian, row-major, BOOL as one
 * byte, FP16 and BF16 as their 16 bits, and each BYTES element as a 4-byte length then its bytes
 * (each datatype's form is its {@link Elements}').
 */
public final class BinaryTensors {

    private BinaryTensors() {
    }

    /**
     * Decodes {@code count} elements from exactly the bytes of {@code data}.
     *
     * @throws InvalidInputException when the byte count does not fit the shape and datatype
     */
    public static Object decode(String name, Datatype type, int count, ByteBuffer data) {
        ByteBuffer b = data.slice().order(ByteOrder.LITTLE_ENDIAN);
        int size = b.remaining();
        if (type != Datatype.BYTES && (long) count * type.byteSize() != size) {
            throw new InvalidInputException("Input " + name + " declares " + size + " bytes of binary data, but " + count
                    + " " + type + " elements take " + (long) count * type.byteSize());
        }
        return Elements.of(type).fromLittleEndian(name, count, b);
    }

    /** Encodes a tensor's elements. */
    public static byte[] encode(Tensor t) {
        return Elements.of(t.datatype()).toLittleEndian(t.data());
    }
}
