package dev.igate.gateway;

import java.time.Duration;
import java.util.List;
import java.util.Locale;

import dev.igate.predictor.ExecutionProvider;
import dev.igate.predictor.InstanceLayout;
import dev.igate.predictor.SessionSettings;
import dev.igate.predictor.batching.BatchingSettings;

/**
 * Settings of one model; a null field means "inherit" (from {@code igate.defaults}, then from
 * the model's model-settings.json, then from the built-in default). Counts that may be
 * {@code auto} are chosen for the device when the model loads (see {@link InstanceLayout#resolve}).
 *
 * @param defaultVersion    version answering requests that name none
 * @param maxLength         tokens per text; longer texts are truncated
 * @param device            {@code auto}, {@code cpu} or {@code cuda:N}
 * @param instances         runs of each version in flight at once (Triton's instance_group count); {@code auto}
 *                          = one per core on a CPU, 1 on a GPU
 * @param intraOpThreads    ONNX Runtime intra-op threads per instance; {@code auto} (or 0) = cores / instances
 * @param soloThreads       threads of the solo session, which runs a lone request on an idle device; {@code auto}
 *                          = every core when an instance has fewer, 0 = no solo session
 * @param interOpThreads    ONNX Runtime inter-op threads (0 = its choice)
 * @param optimizationLevel {@code none}, {@code basic}, {@code extended} or {@code all}
 * @param queueCapacity     requests waiting per model version before 503
 * @param maxBatchSize      most rows in one ONNX Runtime run; 1 turns batching off
 * @param maxBatchTokens    most padded tokens in one run of texts; {@code auto} = 512 on a CPU, no limit on a GPU
 * @param maxLatency        longest a request waits for companions before its batch goes
 * @param timeout           longest a request waits in the queue before it is answered 503 and dropped
 * @param maxQueueWait      longest a new request is expected to wait in the queue (queued tokens over the measured
 *                          rate); past it, 503 + Retry-After at once; 0 = no limit
 * @param allowSpinning     let the instances' intra-op threads spin within a run (the solo session always does)
 * @param responseCache     answer a request the version has answered before from the response cache, without
 *                          running the model (Triton's response cache); off by default
 * @param logger            payload logging (KServe's logger): requests and/or responses to an HTTP URL and/or a
 *                          Kafka topic as CloudEvents; off when null
 * @param versionPolicy     which versions serve, as Triton's version_policy: {@code all} (the default),
 *                          {@code latest:N} or {@code specific:1,3}
 * @param storageUri        where the model's files come from ({@code file://}, a path, or an http(s) .tar.gz/.zip
 *                          archive), fetched into the repository at start and at every repository poll
 * @param priorityAging     what a priority level is worth in queue time: a request of level L queues as if it came
 *                          (L - 1) x this later, so no level waits behind newer higher ones forever; 0 = strict
 * @param task              the model's task, over config.json's {@code problem_type} and {@code architectures}:
 *                          single_label_classification, multi_label_classification, regression or
 *                          token_classification
 * @param aggregationStrategy a token classifier's default aggregation strategy ({@code none}, {@code simple} (the
 *                          default), {@code first}, {@code average}, {@code max}); a request's
 *                          {@code aggregation_strategy} overrides it
 * @param ignoreLabels      a token classifier's labels left out of its entities by default ({@code O}); a request's
 *                          {@code ignore_labels} overrides them
 * @param pairs             whether the model reads pairs of texts ({@code text_pair}); unset: an NLI model (an
 *                          {@code entail...} label) or a sentence-transformers cross-encoder does, by its config.json
 * @param quantize          {@code none} (the default) or {@code int8}: the fp32 model's MatMul and Gemm weights
 *                          quantized at load (ONNX Runtime's int8 operators), checked against the fp32 model on the
 *                          model's calibration texts before it serves
 * @param quantizePerChannel int8 weights with a scale per output channel (the default), else one per tensor
 * @param quantizeActivations how an int8 product's activations are quantized: {@code per-token} (the default: a scale
 *                          per token, so a text's answer does not depend on what is batched with it, and int8 versions
 *                          batch) or {@code per-tensor} (ONNX Runtime's DynamicQuantizeLinear, one scale per run over the
 *                          whole batch: such a version runs one request at a time)
 * @param quantizeMinAgreement the share of the calibration texts on which the int8 model must pick the fp32 model's
 *                          label, else its load is refused (default 0.99)
 */
public record ModelProperties(String defaultVersion, Integer maxLength, String device, String instances,
                              String intraOpThreads, String soloThreads, Integer interOpThreads, String optimizationLevel,
                              Integer queueCapacity, Integer maxBatchSize, String maxBatchTokens, Duration maxLatency,
                              Duration timeout, Duration maxQueueWait, Boolean allowSpinning, Boolean responseCache,
                              PayloadLoggerProperties logger, String versionPolicy, java.net.URI storageUri,
                              Duration priorityAging, String task, String aggregationStrategy, java.util.List<String> ignoreLabels,
                              Boolean pairs, String quantize, Boolean quantizePerChannel, String quantizeActivations,
                              Double quantizeMinAgreement) {

    /** What {@code max-batch-tokens: auto} means on a CPU: the run size with the most rows per second (BENCHMARKS.md). */
    public static final int CPU_BATCH_TOKENS = 512;

    static final ModelProperties BUILT_IN = new ModelProperties(null, null, "auto", "auto", "auto", "auto", 1, "all",
            1024, 32, "auto", Duration.ofMillis(3), Duration.ofSeconds(30), Duration.ofSeconds(1), false, false, null, "all", null,
            BatchingSettings.DEFAULT_PRIORITY_AGING, null, null, null, null, "none", true, "per-token", 0.99);

    /** These settings with every non-null field of {@code other} taking precedence. */
    public ModelProperties overriddenBy(ModelProperties other) {
        if (other == null) {
            return this;
        }
        return new ModelProperties(pick(other.defaultVersion, defaultVersion), pick(other.maxLength, maxLength),
                pick(other.device, device), pick(other.instances, instances), pick(other.intraOpThreads, intraOpThreads),
                pick(other.soloThreads, soloThreads), pick(other.interOpThreads, interOpThreads),
                pick(other.optimizationLevel, optimizationLevel), pick(other.queueCapacity, queueCapacity),
                pick(other.maxBatchSize, maxBatchSize), pick(other.maxBatchTokens, maxBatchTokens),
                pick(other.maxLatency, maxLatency), pick(other.timeout, timeout), pick(other.maxQueueWait, maxQueueWait),
                pick(other.allowSpinning, allowSpinning), pick(other.responseCache, responseCache), pick(other.logger, logger),
                pick(other.versionPolicy, versionPolicy), pick(other.storageUri, storageUri), pick(other.priorityAging, priorityAging),
                pick(other.task, task), pick(other.aggregationStrategy, aggregationStrategy), pick(other.ignoreLabels, ignoreLabels),
                pick(other.pairs, pairs), pick(other.quantize, quantize), pick(other.quantizePerChannel, quantizePerChannel),
                pick(other.quantizeActivations, quantizeActivations), pick(other.quantizeMinAgreement, quantizeMinAgreement));
    }

    /**
     * These settings, a task setting left unset here taken from the model's own
     * {@code model-settings.json} (what its author knows best; application.yml overrides it).
     */
    public ModelProperties withModelDefaults(dev.igate.predictor.ModelSettingsFile file) {
        if (file.task() == null && file.aggregationStrategy() == null && file.pairs() == null) {
            return this;
        }
        return new ModelProperties(defaultVersion, maxLength, device, instances, intraOpThreads, soloThreads, interOpThreads,
                optimizationLevel, queueCapacity, maxBatchSize, maxBatchTokens, maxLatency, timeout, maxQueueWait, allowSpinning,
                responseCache, logger, versionPolicy, storageUri, priorityAging, pick(task, file.task()),
                pick(aggregationStrategy, file.aggregationStrategy()), ignoreLabels, pick(pairs, file.pairs()), quantize,
                quantizePerChannel, quantizeActivations, quantizeMinAgreement);
    }

    private static <T> T pick(T preferred, T fallback) {
        return preferred != null ? preferred : fallback;
    }

    /**
     * Checks every value; the message names the offending key.
     *
     * @throws IllegalArgumentException on the first bad value
     */
    void validate(String prefix) {
        try {
            sessionSettings();
            batchingSettings(ExecutionProvider.CPU);
            layout(ExecutionProvider.CPU, 1);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(prefix + "." + e.getMessage(), e);
        }
        try {
            dev.igate.predictor.VersionPolicy.parse(versionPolicy);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(prefix + "." + e.getMessage(), e);
        }
        if (maxLength != null && (maxLength < 2 || maxLength > 8192)) {
            throw new IllegalArgumentException(prefix + ".max-length must be between 2 and 8192, was " + maxLength);
        }
        if (defaultVersion != null && !defaultVersion.matches("[0-9]{1,9}")) {
            throw new IllegalArgumentException(prefix + ".default-version must be a version number, was " + defaultVersion);
        }
        if (task != null && !dev.igate.transformer.Task.NAMES.contains(task.trim())) {
            throw new IllegalArgumentException(prefix + ".task must be one of " + dev.igate.transformer.Task.NAMES + ", was " + task);
        }
        if (quantize != null && !List.of("none", "int8").contains(quantize.trim().toLowerCase(Locale.ROOT))) {
            throw new IllegalArgumentException(prefix + ".quantize must be none or int8, was " + quantize);
        }
        if (quantizeActivations != null && !List.of("per-token", "per-tensor").contains(quantizeActivations.trim().toLowerCase(Locale.ROOT))) {
            throw new IllegalArgumentException(prefix + ".quantize-activations must be per-token or per-tensor, was " + quantizeActivations);
        }
        if (quantizeMinAgreement != null && !(quantizeMinAgreement >= 0 && quantizeMinAgreement <= 1)) {
            throw new IllegalArgumentException(prefix + ".quantize-min-agreement must be between 0 and 1, was " + quantizeMinAgreement);
        }
        if (aggregationStrategy != null) {
            try {
                dev.igate.transformer.TokenClassification.Aggregation.of(aggregationStrategy);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(prefix + ".aggregation-strategy: " + e.getMessage(), e);
            }
        }
    }

    /** Whether an int8 version's activations are quantized per token (the default) rather than per run. */
    public boolean quantizePerToken() {
        return quantizeActivations == null || !quantizeActivations.trim().equalsIgnoreCase("per-tensor");
    }

    /** Whether the model's versions are quantized to int8 at load. */
    public boolean int8() {
        return quantize != null && quantize.trim().equalsIgnoreCase("int8");
    }

    /** What a model's task takes from these settings, as a request's parameters would give it. */
    public java.util.Map<String, Object> taskDefaults() {
        java.util.Map<String, Object> out = new java.util.LinkedHashMap<>();
        if (aggregationStrategy != null) {
            out.put(dev.igate.transformer.TokenClassification.AGGREGATION_PARAMETER, aggregationStrategy);
        }
        if (ignoreLabels != null) {
            out.put(dev.igate.transformer.TokenClassification.IGNORE_PARAMETER, String.join(",", ignoreLabels));
        }
        return out;
    }

    /** Batching on a device: {@code max-batch-tokens: auto} is 512 on a CPU and no limit on a GPU. */
    public BatchingSettings batchingSettings(ExecutionProvider provider) {
        Integer tokens = count("max-batch-tokens", maxBatchTokens, 0, Integer.MAX_VALUE, false);
        int maxTokens = tokens != null ? tokens : provider == ExecutionProvider.CPU ? CPU_BATCH_TOKENS : 0;
        return new BatchingSettings(maxBatchSize, maxTokens, maxLatency, queueCapacity, timeout, maxQueueWait, priorityAging);
    }

    /** The instance layout on a device with {@code cores} cores, the {@code auto} counts chosen for it. */
    public InstanceLayout layout(ExecutionProvider provider, int cores) {
        return InstanceLayout.resolve(provider, cores, count("instances", instances, 1, 64, false),
                count("intra-op-threads", intraOpThreads, 1, 1024, true), count("solo-threads", soloThreads, 0, 1024, false));
    }

    /**
     * Session options; the intra-op thread count here is a placeholder that {@link #layout} decides
     * per session.
     */
    public SessionSettings sessionSettings() {
        return new SessionSettings(device, 1, interOpThreads == null ? 0 : interOpThreads, optimizationLevel,
                Boolean.TRUE.equals(allowSpinning));
    }

    /** A count that may be {@code auto} (null); with {@code zeroIsAuto}, 0 means auto too. */
    private static Integer count(String key, String value, int min, int max, boolean zeroIsAuto) {
        String v = value == null ? "auto" : value.trim().toLowerCase(Locale.ROOT);
        if (v.equals("auto")) {
            return null;
        }
        int n;
        try {
            n = Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " must be auto or a number, was " + value);
        }
        if (zeroIsAuto && n == 0) {
            return null;
        }
        if (n < min || n > max) {
            throw new IllegalArgumentException(key + " must be auto or between " + min + " and " + max + ", was " + value);
        }
        return n;
    }
}
