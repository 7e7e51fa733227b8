package dev.igate.gateway;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;

/**
 * The server's own settings, under {@code igate} in application.yml.
 *
 * @param modelRepository folder holding {@code <model>/<version>/model.onnx}
 * @param demoModels      build the demo model into the repository when it is missing
 * @param demoTaskModels  with {@code demoModels}, build the task demo models too (BERTTokenClassification,
 *                        BERTPairClassification, BERTCrossEncoder)
 * @param defaults        settings every model starts from
 * @param models          per-model overrides, by model name
 * @param maxRequestSize  largest request body accepted; larger ones get 413
 * @param explainer       the integrated-gradients explainer
 * @param adminToken      bearer token the admin API requires; unset (the default) disables the admin API
 * @param predictorUrl    when set, this process is a transformer: it tokenizes and decodes labels here and
 *                        sends token tensors to the V2 predictor at this URL instead of loading model.onnx
 * @param predictorTimeout how long a call to the remote predictor may take
 * @param limits          per-request limits on rows, tensor elements and text length
 * @param rollback        thresholds of automatic canary rollback
 * @param grpc            the V2 gRPC endpoint
 * @param deviceRuns      how much of each device (the CPU, each GPU) ONNX Runtime runs may hold at once, across all
 *                        models and versions: {@code auto} = on a CPU its cores, a run taking its intra-op threads
 *                        (so runs never ask for more threads than there are cores); on a GPU one run. A number N
 *                        allows N runs at once whatever their threads; 0 for no limit
 * @param loggerBuffer    payloads waiting to be logged (igate.models.*.logger) before new ones are dropped
 * @param loggerBufferBytes bytes of payloads waiting to be logged, counted as they will be sent, before new ones are
 *                        dropped: the buffer's bound whatever the payloads' sizes
 * @param strictReadiness Triton's flag: true (the default) = the server is ready only when every model serves (its
 *                        default version loaded; a failed version beside a serving one is reported, not counted);
 *                        false = ready once start-up loading has finished, the ones that failed reported in health details
 */
@ConfigurationProperties(IgateProperties.PREFIX)
public record IgateProperties(@DefaultValue("./models") Path modelRepository,
                              @DefaultValue("true") boolean demoModels,
                              @DefaultValue("true") boolean demoTaskModels,
                              ModelProperties defaults,
                              Map<String, ModelProperties> models,
                              @DefaultValue("8MB") DataSize maxRequestSize,
                              ExplainerProperties explainer,
                              String adminToken,
                              URI predictorUrl,
                              @DefaultValue("30s") Duration predictorTimeout,
                              LimitsProperties limits,
                              RollbackProperties rollback,
                              GrpcProperties grpc,
                              @DefaultValue("auto") String deviceRuns,
                              @DefaultValue("true") boolean strictReadiness,
                              ResponseCacheProperties responseCache,
                              KafkaSettings kafka,
                              @DefaultValue("10000") int loggerBuffer,
                              @DefaultValue("0s") Duration repositoryPollInterval,
                              @DefaultValue("./.igate-cache") Path storageCache,
                              @DefaultValue("4GB") DataSize storageMaxUnpackedBytes,
                              S3Properties s3,
                              @DefaultValue("64MB") DataSize loggerBufferBytes) {

    public static final String PREFIX = "igate";

    public IgateProperties {
        defaults = ModelProperties.BUILT_IN.overriddenBy(defaults);
        defaults.validate(PREFIX + ".defaults");
        if (maxRequestSize.toBytes() < 1024 || maxRequestSize.toBytes() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(PREFIX + ".max-request-size must be between 1KB and 2GB, was " + maxRequestSize);
        }
        if (predictorUrl != null && !(String.valueOf(predictorUrl.getScheme()).startsWith("http"))) {
            throw new IllegalArgumentException(PREFIX + ".predictor-url must be an http(s) URL, was " + predictorUrl);
        }
        adminToken = adminToken == null || adminToken.isBlank() ? null : adminToken.trim();
        rollback = rollback == null ? RollbackProperties.DEFAULTS : rollback;
        limits = limits == null ? LimitsProperties.DEFAULTS : limits;
        explainer = explainer == null ? ExplainerProperties.DEFAULTS : explainer;
        grpc = grpc == null ? GrpcProperties.DEFAULTS : grpc;
        responseCache = responseCache == null ? ResponseCacheProperties.DEFAULTS : responseCache;
        kafka = kafka == null ? KafkaSettings.DEFAULTS : kafka;
        s3 = s3 == null ? S3Properties.DEFAULTS : s3;
        if (repositoryPollInterval.isNegative()) {
            throw new IllegalArgumentException(PREFIX + ".repository-poll-interval must not be negative, was " + repositoryPollInterval);
        }
        if (loggerBuffer < 1) {
            throw new IllegalArgumentException(PREFIX + ".logger-buffer must be at least 1, was " + loggerBuffer);
        }
        if (loggerBufferBytes.toBytes() < 1024) {
            throw new IllegalArgumentException(PREFIX + ".logger-buffer-bytes must be at least 1KB, was " + loggerBufferBytes);
        }
        deviceRuns = deviceRuns == null ? "auto" : deviceRuns.trim().toLowerCase(java.util.Locale.ROOT);
        if (!deviceRuns.equals("auto") && (!deviceRuns.matches("[0-9]{1,2}") || Integer.parseInt(deviceRuns) > 64)) {
            throw new IllegalArgumentException(PREFIX + ".device-runs must be auto, or between 0 (no limit) and 64, was " + deviceRuns);
        }
        models = models == null ? Map.of() : Map.copyOf(models);
        for (Map.Entry<String, ModelProperties> e : models.entrySet()) {
            defaults.overriddenBy(e.getValue()).validate(PREFIX + ".models." + e.getKey());
        }
    }

    /** {@code device-runs} as a number, or null for {@code auto}. */
    public Integer deviceRunLimit() {
        return deviceRuns.equals("auto") ? null : Integer.valueOf(deviceRuns);
    }

    /** The effective settings of one model: its overrides on top of the defaults. */
    public ModelProperties forModel(String name) {
        return defaults.overriddenBy(models.get(name));
    }
}
