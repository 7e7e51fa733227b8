package dev.igate.gateway.serving;

import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

import dev.igate.gateway.IgateProperties;
import dev.igate.gateway.PayloadLoggerProperties;
import dev.igate.protocol.InferenceRequest;
import dev.igate.protocol.InferenceResponse;
import dev.igate.protocol.v2.V2Codec;
import io.cloudevents.CloudEvent;
import io.cloudevents.core.builder.CloudEventBuilder;
import io.cloudevents.http.HttpMessageFactory;
import io.cloudevents.kafka.KafkaMessageFactory;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.annotation.PreDestroy;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.stereotype.Component;

/**
 * Payload logging as KServe's logger does it: a model's requests and/or responses
 * ({@code igate.models.<name>.logger.mode}) sent as CloudEvents in binary mode, with KServe's types
 * {@code org.kubeflow.serving.inference.request} and {@code .response}, the request's id as
 * {@code ce-id} (the same for both), the server as {@code ce-source}, and the extensions
 * {@code inferenceservicename} (the model), {@code modelversion} and {@code endpoint}: POSTed to an
 * HTTP URL and/or produced to a Kafka topic (batched by the producer).
 *
 * <p>Asynchronous behind a buffer bounded by count ({@code igate.logger-buffer}) and by bytes
 * ({@code igate.logger-buffer-bytes}, the payloads' sizes as they will be sent, held until each sink
 * has taken them): an inference only offers its payloads, so a slow or dead sink never delays or
 * fails it; what does not fit is dropped and counted ({@code igate_payload_log_dropped_total}), as
 * are the events each sink took or failed ({@code igate_payload_log_events_total}). The worker that
 * encodes and hands out events never blocks: HTTP goes out asynchronously (at most
 * {@value #HTTP_IN_FLIGHT} at once), and Kafka records go to a thread of their own, which is the
 * one that waits when the broker does not answer.
 */
@Component
public final class PayloadLogger {

    private static final Logger log = LoggerFactory.getLogger(PayloadLogger.class);
    static final String REQUEST_TYPE = "org.kubeflow.serving.inference.request";
    static final String RESPONSE_TYPE = "org.kubeflow.serving.inference.response";
    /** HTTP events in flight at once: past it the buffer fills and drops. */
    static final int HTTP_IN_FLIGHT = 32;

    /** One inference's payloads, encoded on the logger's thread; {@code bytes} is what they weigh in the buffer until sent. */
    /** @param traceparent the request's W3C trace context, carried as the events' distributed-tracing extension, or null */
    private record Entry(PayloadLoggerProperties sink, String model, String version, String endpoint, String id,
                         java.util.function.Supplier<byte[]> requestBody, java.util.function.Supplier<byte[]> responseBody, long bytes,
                         String traceparent) {
    }

    private final IgateProperties properties;
    private final MeterRegistry meters;
    /** Lock-free, so offering from an event loop never parks it; bounded by {@link #buffered}. */
    private final java.util.concurrent.ConcurrentLinkedQueue<Entry> buffer = new java.util.concurrent.ConcurrentLinkedQueue<>();
    private final java.util.concurrent.atomic.AtomicInteger buffered = new java.util.concurrent.atomic.AtomicInteger();
    private final int capacity;
    private final long capacityBytes;
    /** Bytes of payloads offered and not yet taken by every sink (entries in the buffer, Kafka records waiting for the producer). */
    private final java.util.concurrent.atomic.AtomicLong bufferedBytes = new java.util.concurrent.atomic.AtomicLong();
    /** Kafka records on their way to the producer: its send may block (metadata, a full buffer) while the broker is away. */
    private final java.util.concurrent.ExecutorService kafkaSender = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "payload-logger-kafka");
        t.setDaemon(true);
        return t;
    });
    private final Counter dropped;
    private final URI source;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private final Semaphore httpSlots = new Semaphore(HTTP_IN_FLIGHT);
    private volatile KafkaProducer<String, byte[]> kafka;
    private final Thread worker;
    private volatile boolean running = true;

    public PayloadLogger(IgateProperties properties, MeterRegistry meters) {
        this.properties = properties;
        this.meters = meters;
        this.capacity = properties.loggerBuffer();
        this.capacityBytes = properties.loggerBufferBytes().toBytes();
        this.dropped = Counter.builder("igate.payload.log.dropped").description("payloads dropped: the logger's buffer was full")
                .register(meters);
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (java.io.IOException e) {
            host = "localhost";
        }
        this.source = URI.create("igate://" + host.replaceAll("[^A-Za-z0-9.-]", "-"));
        this.worker = new Thread(this::drain, "payload-logger");
        worker.setDaemon(true);
        worker.start();
    }

    /** Reactor context key of the logging a request's route asks for, which overrides its model's. */
    public static final String ROUTE_LOGGER = "igate.route-logger";

    /** A request's logging settings that log nothing, over its model's (the server's own warm-up requests). */
    public static final PayloadLoggerProperties NOT_LOGGED = new PayloadLoggerProperties(null, null, null);

    /**
     * A route's payload logging from its metadata ({@code logger-mode}, {@code logger-url},
     * {@code logger-kafka-topic}), or null when the route sets none.
     */
    public static PayloadLoggerProperties fromRouteMetadata(java.util.Map<String, Object> metadata) {
        Object url = metadata.get("logger-url");
        Object topic = metadata.get("logger-kafka-topic");
        if (url == null && topic == null) {
            return null;
        }
        Object mode = metadata.get("logger-mode");
        return new PayloadLoggerProperties(mode == null ? null : mode.toString(), url == null ? null : java.net.URI.create(url.toString()),
                topic == null ? null : topic.toString());
    }

    /** The logging settings of a request: its route's, else its model's; null when it logs nothing. */
    private PayloadLoggerProperties settings(String model, PayloadLoggerProperties route) {
        PayloadLoggerProperties p = route != null ? route : properties.forModel(model).logger();
        return p == null || p.url() == null && p.kafkaTopic() == null ? null : p;
    }

    /** Offers an inference's payloads (V2 infer, gRPC, Kafka) as V2 JSON. Never blocks. */
    public void infer(String model, String version, String endpoint, InferenceRequest request, InferenceResponse response,
                      PayloadLoggerProperties route) {
        infer(model, version, endpoint, request, response, route, null);
    }

    /** As {@link #infer(String, String, String, InferenceRequest, InferenceResponse, PayloadLoggerProperties)}, in the request's trace. */
    public void infer(String model, String version, String endpoint, InferenceRequest request, InferenceResponse response,
                      PayloadLoggerProperties route, String traceparent) {
        PayloadLoggerProperties sink = settings(model, route);
        if (sink != null) {
            long bytes = 0;
            for (dev.igate.protocol.Tensor t : request.inputs()) {
                bytes += t.byteSize();
            }
            for (dev.igate.protocol.Tensor t : response.outputs()) {
                bytes += t.byteSize();
            }
            offer(new Entry(sink, model, version, endpoint, request.id(),
                    () -> V2Codec.encodeInferRequest(request.id(), request.inputs(), request.requestedOutputs()),
                    () -> V2Codec.encodeInfer(response), bytes, traceparent));
        }
    }

    /**
     * Offers an inference's payloads in another encoding (V1 predict), encoded on the logger's
     * thread; {@code bytes} estimates their size. Never blocks.
     */
    public void encoded(String model, String version, String endpoint, String id, java.util.function.Supplier<byte[]> request,
                        java.util.function.Supplier<byte[]> response, long bytes, PayloadLoggerProperties route, String traceparent) {
        PayloadLoggerProperties sink = settings(model, route);
        if (sink != null) {
            offer(new Entry(sink, model, version, endpoint, id, request, response, bytes, traceparent));
        }
    }

    private void offer(Entry e) {
        // a payload's JSON is larger than its tensors: what the buffer holds is counted with a margin
        long weight = 2 * e.bytes() + 512;
        if (buffered.incrementAndGet() > capacity || bufferedBytes.addAndGet(weight) > capacityBytes) {
            buffered.decrementAndGet();
            bufferedBytes.addAndGet(-weight);
            dropped.increment();
            return;
        }
        buffer.add(e);
        java.util.concurrent.locks.LockSupport.unpark(worker);
    }

    /** Bytes of payloads held now, waiting for a sink (for tests). */
    long bufferedBytes() {
        return bufferedBytes.get();
    }

    private void drain() {
        while (running) {
            Entry e = buffer.poll();
            if (e == null) {
                java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(200));
                continue;
            }
            buffered.decrementAndGet();
            try {
                send(e);
            } catch (RuntimeException ex) {
                log.debug("payload not logged: {}", ex.toString());
            } finally {
                bufferedBytes.addAndGet(-(2 * e.bytes() + 512));
            }
        }
    }

    private void send(Entry e) {
        // the request's id, else one made here: the request and response events share it
        String id = e.id() != null ? e.id() : UUID.randomUUID().toString();
        if (e.sink().requests()) {
            emit(e, event(id, REQUEST_TYPE, e, e.requestBody().get()));
        }
        if (e.sink().responses()) {
            emit(e, event(id, RESPONSE_TYPE, e, e.responseBody().get()));
        }
    }

    private CloudEvent event(String id, String type, Entry e, byte[] body) {
        CloudEventBuilder event = CloudEventBuilder.v1().withId(id).withSource(source).withType(type).withTime(OffsetDateTime.now())
                .withDataContentType("application/json").withData(body)
                .withExtension("inferenceservicename", e.model())
                .withExtension("modelversion", e.version() == null ? "" : e.version())
                .withExtension("endpoint", e.endpoint());
        // CloudEvents' distributed-tracing extension: the event belongs to the request's trace
        if (e.traceparent() != null) {
            event.withExtension("traceparent", e.traceparent());
        }
        return event.build();
    }

    private void emit(Entry e, CloudEvent event) {
        if (e.sink().url() != null) {
            http(e.sink().url(), event);
        }
        if (e.sink().kafkaTopic() != null) {
            kafka(e.sink().kafkaTopic(), event);
        }
    }

    private void http(URI url, CloudEvent event) {
        if (!httpSlots.tryAcquire()) {
            // a slow sink holds every slot: this payload is dropped rather than waited for
            dropped.increment();
            return;
        }
        HttpRequest.Builder b = HttpRequest.newBuilder(url).timeout(Duration.ofSeconds(5));
        byte[][] body = new byte[1][];
        HttpMessageFactory.createWriter(b::header, bytes -> body[0] = bytes).writeBinary(event);
        http.sendAsync(b.POST(HttpRequest.BodyPublishers.ofByteArray(body[0] == null ? new byte[0] : body[0])).build(),
                HttpResponse.BodyHandlers.discarding()).whenComplete((r, ex) -> {
                    httpSlots.release();
                    boolean ok = ex == null && r.statusCode() < 300;
                    counted("http", ok);
                    if (!ok) {
                        log.debug("payload log to {} failed: {}", url, ex != null ? ex.toString() : "status " + r.statusCode());
                    }
                });
    }

    private void kafka(String topic, CloudEvent event) {
        if (properties.kafka().bootstrapServers() == null) {
            counted("kafka", false);
            return;
        }
        ProducerRecord<String, byte[]> record = KafkaMessageFactory.<String>createWriter(topic, event.getId()).writeBinary(event);
        long weight = record.value() == null ? 0 : record.value().length;
        if (bufferedBytes.addAndGet(weight) > capacityBytes) {
            // the records waiting for the producer fill the buffer: the broker is away
            bufferedBytes.addAndGet(-weight);
            dropped.increment();
            return;
        }
        try {
            kafkaSender.execute(() -> {
                try {
                    // made here, not on the worker: a producer takes a moment to make
                    producer().send(record, (m, ex) -> counted("kafka", ex == null));
                } catch (RuntimeException ex) {
                    counted("kafka", false);
                    log.debug("payload record not produced: {}", ex.toString());
                } finally {
                    bufferedBytes.addAndGet(-weight);
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException closing) {
            bufferedBytes.addAndGet(-weight);
        }
    }

    private KafkaProducer<String, byte[]> producer() {
        KafkaProducer<String, byte[]> p = kafka;
        if (p == null && properties.kafka().bootstrapServers() != null) {
            synchronized (this) {
                if (kafka == null) {
                    Properties c = new Properties();
                    c.putAll(properties.kafka().properties());
                    c.put("bootstrap.servers", properties.kafka().bootstrapServers());
                    // payload records go in batches: a little latency for far fewer requests to the broker
                    c.put(ProducerConfig.LINGER_MS_CONFIG, "50");
                    c.put(ProducerConfig.ACKS_CONFIG, "1");
                    // a send waits at most this for metadata or room in the producer's buffer (on its own thread)
                    c.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "5000");
                    kafka = new KafkaProducer<>(c, new StringSerializer(), new ByteArraySerializer());
                }
                p = kafka;
            }
        }
        return p;
    }

    private void counted(String sink, boolean ok) {
        Counter.builder("igate.payload.log.events").description("payload events handed to a sink, by outcome")
                .tags("sink", sink, "outcome", ok ? "sent" : "failed").register(meters).increment();
    }

    @PreDestroy
    void close() {
        running = false;
        worker.interrupt();
        kafkaSender.shutdownNow();
        KafkaProducer<String, byte[]> p = kafka;
        if (p != null) {
            p.close(Duration.ofSeconds(5));
        }
    }
}
