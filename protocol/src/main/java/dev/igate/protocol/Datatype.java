package dev.igate.protocol;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * Tensor element types of the Open Inference Protocol (KServe V2), with their element sizes.
 * {@link #BYTES} elements are variable-length byte strings; every other type has a fixed size.
 */
public enum Datatype {
    BOOL(1), UINT8(1), UINT16(2), UINT32(4), UINT64(8),
    INT8(1), INT16(2), INT32(4), INT64(8),
    FP16(2), BF16(2), FP32(4), FP64(8),
    BYTES(-1);

    private final int byteSize;

    Datatype(int byteSize) {
        this.byteSize = byteSize;
    }

    /** Size of one element in bytes, or -1 for {@link #BYTES}. */
    public int byteSize() {
        return byteSize;
    }

    public boolean isFloatingPoint() {
        return this == FP16 || this == BF16 || this == FP32 || this == FP64;
    }

    public boolean isInteger() {
        return !isFloatingPoint() && this != BOOL && this != BYTES;
    }

    /**
     * Parses a wire name such as {@code "FP32"}.
     *
     * @throws InvalidInputException when the name is not one of the protocol's datatypes
     */
    public static Datatype parse(String name) {
        if (name != null) {
            try {
                return valueOf(name.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException ignored) {
                // fall through to the message that lists what is accepted
            }
        }
        throw new InvalidInputException("Unknown datatype " + name + ", expected one of "
                + Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", ", "[", "]")));
    }
}
