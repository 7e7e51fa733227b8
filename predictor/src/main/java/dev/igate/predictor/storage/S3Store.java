package dev.igate.predictor.storage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import software.amazon.awssdk.core.ResponseInputStream;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.regions.providers.AwsProfileRegionProvider;
import software.amazon.awssdk.regions.providers.AwsRegionProviderChain;
import software.amazon.awssdk.regions.providers.SystemSettingsRegionProvider;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;
import software.amazon.awssdk.services.s3.model.GetObjectRequest;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.S3Exception;

/**
 * S3 and S3-compatible stores (MinIO, Ceph, S3Proxy...) through the AWS SDK for Java v2, set up
 * as KServe's storage initializer sets up boto3: credentials from the SDK's standard chain
 * (environment, system properties, profiles, web identity and container or instance roles), the
 * region from {@code AWS_REGION} or the profile (us-east-1 when neither says), and, when an
 * endpoint is given ({@code AWS_ENDPOINT_URL}), path-style addressing against it.
 */
final class S3Store implements AutoCloseable {

    /** One object under a prefix: its name below the prefix, size and ETag. */
    record Entry(String name, long size, String etag) {
    }

    private final S3Client client;

    S3Store(ModelStorage.S3Settings settings) {
        S3ClientBuilder builder = S3Client.builder()
                .httpClientBuilder(UrlConnectionHttpClient.builder()
                        .connectionTimeout(Duration.ofSeconds(10))
                        .socketTimeout(Duration.ofMinutes(2)))
                .region(region(settings.region()))
                // no flexible-checksum headers (x-amz-checksum-mode, x-amz-checksum-crc32 on a GET):
                // S3-compatible stores that lack them answer 501; the length and the MD5 of a plain
                // ETag are checked here instead
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED);
        if (settings.endpoint() != null) {
            builder.endpointOverride(settings.endpoint());
        }
        builder.forcePathStyle(settings.endpoint() != null || settings.pathStyle());
        client = builder.build();
    }

    /** The region named, else the environment's or profile's (no instance-metadata call), else us-east-1. */
    private static Region region(String named) {
        if (named != null && !named.isBlank()) {
            return Region.of(named.trim());
        }
        try {
            return new AwsRegionProviderChain(new SystemSettingsRegionProvider(), new AwsProfileRegionProvider()).getRegion();
        } catch (SdkException e) {
            return Region.US_EAST_1;
        }
    }

    /** Every object under {@code prefix} (a folder, ending with '/', or empty), folder markers left out; {@code headers} go with each request. */
    List<Entry> list(String bucket, String prefix, Map<String, String> headers) throws IOException {
        try {
            return client.listObjectsV2Paginator(r -> r.bucket(bucket).prefix(prefix).overrideConfiguration(c -> headers.forEach(c::putHeader)))
                    .contents().stream()
                    .filter(o -> !o.key().endsWith("/"))
                    .map(o -> new Entry(o.key().substring(prefix.length()), o.size(), o.eTag()))
                    .toList();
        } catch (SdkException e) {
            throw failure("listing s3://" + bucket + "/" + prefix, e);
        }
    }

    /**
     * Fetches an object into {@code part} unless it still has {@code etag}. Checked: the length S3
     * declared, the MD5 that a single-part upload's ETag is (not for multipart or KMS-encrypted
     * objects, whose ETags are not an MD5), and no more than {@code maxBytes} written.
     *
     * @return the object's ETag and length, or null when it still has {@code etag}
     */
    ModelStorage.Fetched get(String bucket, String key, String etag, Path part, long maxBytes, Map<String, String> headers)
            throws IOException {
        GetObjectRequest.Builder request = GetObjectRequest.builder().bucket(bucket).key(key)
                .overrideConfiguration(c -> headers.forEach(c::putHeader));
        if (etag != null && !etag.isEmpty()) {
            request.ifNoneMatch(etag);
        }
        String where = "s3://" + bucket + "/" + key;
        try (ResponseInputStream<GetObjectResponse> body = client.getObject(request.build());
             DigestInputStream in = new DigestInputStream(body, MessageDigest.getInstance("MD5"))) {
            GetObjectResponse response = body.response();
            long length = response.contentLength() == null ? -1 : response.contentLength();
            ModelStorage.copyBounded(in, length, part, maxBytes, where);
            String md5 = HexFormat.of().formatHex(in.getMessageDigest().digest());
            String tag = response.eTag() == null ? "" : response.eTag();
            String plain = tag.replace("\"", "").toLowerCase(Locale.ROOT);
            boolean kms = response.serverSideEncryptionAsString() != null && response.serverSideEncryptionAsString().startsWith("aws:kms")
                    || response.sseCustomerAlgorithm() != null;
            if (length >= 0 && Files.size(part) == length && plain.matches("[0-9a-f]{32}") && !kms && !plain.equals(md5)) {
                throw new IOException(where + " does not match its ETag: MD5 " + md5 + ", ETag " + tag);
            }
            return new ModelStorage.Fetched(tag, length);
        } catch (S3Exception e) {
            if (e.statusCode() == 304) {
                return null;
            }
            throw failure(where, e);
        } catch (SdkException e) {
            throw failure(where, e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static IOException failure(String what, SdkException e) {
        String reason = e instanceof S3Exception s3 && s3.awsErrorDetails() != null
                ? s3.awsErrorDetails().errorCode() + " (HTTP " + s3.statusCode() + ")"
                : e.getMessage();
        return new IOException(what + " failed: " + reason, e);
    }

    @Override
    public void close() {
        client.close();
    }
}
