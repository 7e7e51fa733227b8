package dev.igate.gateway.model;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.Map;

import dev.igate.gateway.IgateProperties;
import dev.igate.gateway.ModelProperties;
import dev.igate.gateway.tracing.RequestTrace;
import dev.igate.gateway.tracing.Tracing;
import dev.igate.predictor.ModelRepository;
import dev.igate.predictor.storage.ModelStorage;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.tracing.Span;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fetches the models that name a storage URI ({@code igate.models.<name>.storage-uri}) into the
 * repository, each folder replaced only once its new files are complete; counts the bytes it
 * downloads and the fetches that fail; each fetch is a client span ({@code igate.storage.fetch}),
 * whose trace context goes to the store with every request. Blocking.
 */
final class StorageFetch implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(StorageFetch.class);

    private final IgateProperties properties;
    private final ModelRepository repository;
    private final MeterRegistry meters;
    private final ModelStorage storage;
    private final Tracing tracing;

    StorageFetch(IgateProperties properties, ModelRepository repository, MeterRegistry meters, Tracing tracing) {
        this.properties = properties;
        this.tracing = tracing;
        this.repository = repository;
        this.meters = meters;
        this.storage = new ModelStorage(properties.storageCache(), properties.storageMaxUnpackedBytes().toBytes(), properties.s3().settings());
        FunctionCounter.builder("igate.storage.downloaded", storage, ModelStorage::downloadedBytes)
                .baseUnit("bytes").description("Bytes downloaded from storage URIs (a reused cached copy adds none)").register(meters);
    }

    /** What a failed fetch leaves to report, by model: the reason, with its userinfo and query redacted. */
    interface Problems {
        void failed(String model, String reason);

        void fetched(String model);
    }

    /**
     * Fetches every model that names a storage URI; a failure is logged with its reason, counted
     * and reported, and the model's previous files, if any, keep serving.
     */
    void fetchAll(Problems problems) {
        for (Map.Entry<String, ModelProperties> m : properties.models().entrySet()) {
            URI uri = m.getValue().storageUri();
            if (uri == null) {
                continue;
            }
            // its userinfo and query (a presigned URL's signature) never reach the log or health
            String shown = ModelStorage.redact(uri.toString());
            Path folder = repository.modelDir(m.getKey());
            // a fetch is a trace of its own (start-up or a poll, no request behind it); the store gets its traceparent
            RequestTrace trace = tracing.start("igate.storage.fetch", Span.Kind.CLIENT, Map.of(), "igate.model", m.getKey(),
                    "url.full", shown, "url.scheme", uri.getScheme());
            try {
                var outcome = storage.fetch(uri, folder, trace.headers());
                trace.tag("igate.storage.outcome", outcome == ModelStorage.Outcome.UPDATED ? "fetched" : "unchanged");
                trace.end(null);
                problems.fetched(m.getKey());
                log.info("Model {}: storage {} {}", m.getKey(), shown, outcome == ModelStorage.Outcome.UPDATED ? "fetched" : "unchanged");
            } catch (IOException | RuntimeException e) {
                trace.end(e);
                meters.counter("igate.storage.fetch.failures", "model_name", m.getKey()).increment();
                String reason = ModelStorage.redact(String.valueOf(e.getMessage()));
                log.warn("Model {}: storage {} not fetched: {}", m.getKey(), shown, reason);
                problems.failed(m.getKey(), "storage " + shown + " not fetched: " + PublicReasons.of(reason, repository.root()));
            }
        }
    }

    @Override
    public void close() {
        storage.close();
    }
}
