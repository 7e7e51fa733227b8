package dev.igate.protocol;

/**
 * Name, datatype and shape of a model input or output; {@code -1} marks a variable dimension.
 */
public record TensorMetadata(String name, Datatype datatype, long[] shape) {
}
