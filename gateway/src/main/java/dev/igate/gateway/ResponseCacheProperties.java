package dev.igate.gateway;

import org.springframework.util.unit.DataSize;

/**
 * The response cache's bounds ({@code igate.response-cache}), shared by the models that turn it on
 * ({@code igate.models.<name>.response-cache: true}, or {@code igate.defaults.response-cache}).
 *
 * @param maxEntries most answers kept
 * @param maxBytes   most bytes of answers (outputs and keys) kept
 */
public record ResponseCacheProperties(Integer maxEntries, DataSize maxBytes) {

    public static final ResponseCacheProperties DEFAULTS = new ResponseCacheProperties(10_000, DataSize.ofMegabytes(64));

    public ResponseCacheProperties {
        maxEntries = maxEntries == null ? DEFAULTS.maxEntries() : maxEntries;
        maxBytes = maxBytes == null ? DEFAULTS.maxBytes() : maxBytes;
        if (maxEntries < 1 || maxBytes.toBytes() < 1024) {
            throw new IllegalArgumentException("igate.response-cache: max-entries must be at least 1 and max-bytes at least 1KB, were "
                    + maxEntries + " and " + maxBytes);
        }
    }
}
