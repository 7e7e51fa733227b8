package dev.igate.gateway;

import dev.igate.predictor.storage.ModelStorage;

/**
 * How {@code s3://} storage URIs reach their store, under {@code igate.s3}. application.yml fills
 * them from the variables KServe's storage initializer reads, so the same pod spec serves either
 * loader; credentials are not settings here: they come from the AWS SDK's standard chain
 * ({@code AWS_ACCESS_KEY_ID} / {@code AWS_SECRET_ACCESS_KEY}, profiles, web identity, roles).
 *
 * @param endpoint  an S3-compatible store: a URL ({@code AWS_ENDPOINT_URL}) or a host[:port] ({@code S3_ENDPOINT});
 *                  unset for AWS itself
 * @param useHttps  for an endpoint without a scheme: https unless false ({@code S3_USE_HTTPS=0})
 * @param region    the region ({@code AWS_REGION}); unset: the profile's, else us-east-1
 * @param pathStyle path-style addressing against AWS itself; always on with an endpoint
 */
public record S3Properties(String endpoint, Boolean useHttps, String region, boolean pathStyle) {

    public static final S3Properties DEFAULTS = new S3Properties(null, true, null, false);

    public S3Properties {
        useHttps = useHttps == null || useHttps;
        try {
            settings(endpoint, useHttps, region, pathStyle);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(IgateProperties.PREFIX + ".s3.endpoint is not a URL or host[:port], was " + endpoint, e);
        }
    }

    /** What the storage reads. */
    public ModelStorage.S3Settings settings() {
        return settings(endpoint, useHttps, region, pathStyle);
    }

    private static ModelStorage.S3Settings settings(String endpoint, boolean useHttps, String region, boolean pathStyle) {
        return new ModelStorage.S3Settings(ModelStorage.S3Settings.endpoint(endpoint, useHttps),
                region == null || region.isBlank() ? null : region.trim(), pathStyle);
    }
}
