package dev.igate.gateway.kafka;

import dev.igate.gateway.serving.CloudEvents;
import dev.igate.gateway.serving.DataPlane;
import dev.igate.gateway.tracing.RequestTrace;
import dev.igate.gateway.tracing.Tracing;
import reactor.core.publisher.Mono;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import dev.igate.gateway.KafkaSettings;
import dev.igate.gateway.http.ErrorStatus;
import dev.igate.protocol.InferenceException;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.v1.V1Codec;
import dev.igate.protocol.v2.V2Codec;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.SmartLifecycle;

/**
 * Inference over Kafka: requests consumed from the input topic join the same stages and dynamic
 * batcher as REST's; each answer goes to the output topic, each record that cannot be served to
 * the dead-letter topic with the error REST would answer.
 *
 * <p>A record names its model in the header {@code igate-model} (and optionally
 * {@code igate-model-version}; without it the canary weights of the model's V2 infer routes
 * choose, as on REST). Its value is a V2 infer request body, or a V1 predict body when the header
 * {@code igate-protocol} says {@code v1}. The answer keeps the record's key and carries the
 * headers {@code igate-model}, {@code igate-model-version} (the version that served) and
 * {@code igate-correlation-id} (the request's id, else the record's key).
 *
 * <p>At least once: a partition's offset is committed only up to its oldest record whose answer
 * or dead-letter record the broker has not acknowledged yet ({@link OffsetTracker}), so a crash
 * or restart repeats records and never loses one. A model whose queue is full is not a dead
 * letter: its record waits, and the consumer pauses its partitions until the records in progress
 * drain. On shutdown the consumer stops taking records, the ones in progress finish, and the last
 * offsets are committed before it leaves the group.
 */
public final class KafkaInference implements SmartLifecycle {

    private static final Logger log = LoggerFactory.getLogger(KafkaInference.class);

    static final String MODEL = "igate-model";
    static final String VERSION = "igate-model-version";
    static final String PROTOCOL = "igate-protocol";
    static final String CORRELATION = "igate-correlation-id";
    static final String ERROR = "igate-error";

    private final KafkaSettings settings;
    private final DataPlane plane;
    private final long maxRequestBytes;
    private final OffsetTracker offsets = new OffsetTracker();
    /**
     * Records that met a passing refusal (a full queue, a version loading or being replaced, a
     * remote predictor down), to try again once their pause is over, in the order they came; only
     * the consumer thread takes them.
     */
    private final ConcurrentLinkedQueue<Retry> retries = new ConcurrentLinkedQueue<>();
    /** How long a record waits before it is tried again after a passing refusal. */
    static final Duration RETRY_PAUSE = Duration.ofMillis(50);

    /** A record to try again, not before {@code dueNanos}. */
    private record Retry(ConsumerRecord<byte[], byte[]> record, long dueNanos) {
    }
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicLong lag = new AtomicLong();
    private final Counter consumed;
    private final Counter answered;
    private final Counter deadLettered;
    private final Counter retried;
    private volatile boolean running;
    /** Why records cannot be consumed now, or null: see {@link #failure()}. */
    private volatile String failure = "starting";
    private final Counter restarts;
    private Thread thread;
    private KafkaConsumer<byte[], byte[]> consumer;
    private KafkaProducer<byte[], byte[]> producer;
    /**
     * Sends run here: KafkaProducer.send blocks while it fetches a topic's metadata or its buffer is
     * full, and the answers complete on event loops and stage threads that must never block.
     */
    private java.util.concurrent.ExecutorService sender;

    private final Tracing tracing;

    public KafkaInference(KafkaSettings settings, long maxRequestBytes, DataPlane plane, MeterRegistry meters) {
        this(settings, maxRequestBytes, plane, meters, Tracing.off());
    }

    public KafkaInference(KafkaSettings settings, long maxRequestBytes, DataPlane plane, MeterRegistry meters, Tracing tracing) {
        this.tracing = tracing;
        this.settings = settings;
        this.maxRequestBytes = maxRequestBytes;
        this.plane = plane;
        this.consumed = Counter.builder("igate.kafka.records.consumed").description("records taken from the input topic")
                .register(meters);
        this.answered = Counter.builder("igate.kafka.records.answered").description("answers acknowledged on the output topic")
                .register(meters);
        this.deadLettered = Counter.builder("igate.kafka.records.dead.lettered")
                .description("records that could not be served, acknowledged on the dead-letter topic").register(meters);
        this.retried = Counter.builder("igate.kafka.records.retried")
                .description("attempts refused for a passing reason (a full queue, a version loading), the record tried again").register(meters);
        this.restarts = Counter.builder("igate.kafka.consumer.restarts").description("Kafka consumers made again after a failure")
                .register(meters);
        Gauge.builder("igate.kafka.consumer.lag", lag, AtomicLong::get)
                .description("records of the input topic's assigned partitions not consumed yet").register(meters);
    }

    private Properties common() {
        Properties p = new Properties();
        p.putAll(settings.properties());
        p.put("bootstrap.servers", settings.bootstrapServers());
        return p;
    }

    @Override
    public synchronized void start() {
        if (running) {
            return;
        }
        Properties p = common();
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
        sender = java.util.concurrent.Executors.newSingleThreadExecutor(r -> new Thread(r, "kafka-producer"));
        running = true;
        thread = new Thread(this::consume, "kafka-consumer");
        thread.start();
        log.info("Kafka inference: consuming {} at {} as group {}, answers to {}, dead letters to {}", settings.inputTopic(),
                settings.bootstrapServers(), settings.groupId(), settings.outputTopic(), settings.deadLetterTopic());
    }

    /**
     * The consumer's default {@code max.poll.interval.ms}, unless {@code igate.kafka.properties}
     * sets it. It is also the group's rebalance timeout: a member killed while it was joining a
     * rebalance keeps its partitions from every other member until it passes (Kafka does not
     * expire a member awaiting a join by its session). Kafka's default is 5 minutes; this loop never
     * blocks on inference (the longest gap between polls is a 10 s commit), so one minute is safe.
     */
    static final String MAX_POLL_INTERVAL_MS = "60000";

    private KafkaConsumer<byte[], byte[]> newConsumer() {
        Properties c = common();
        c.putIfAbsent(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, MAX_POLL_INTERVAL_MS);
        c.put(ConsumerConfig.GROUP_ID_CONFIG, settings.groupId());
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        c.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, Math.min(500, settings.maxInFlight()));
        return new KafkaConsumer<>(c, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    /** The first pause before a failed consumer is made again; it doubles with each failure in a row, up to {@link #MAX_BACKOFF}. */
    static final Duration FIRST_BACKOFF = Duration.ofMillis(200);
    static final Duration MAX_BACKOFF = Duration.ofSeconds(30);
    /** How often the consumer asks the broker for the input topic's end offsets: what health reports. */
    static final Duration BROKER_CHECK = Duration.ofSeconds(2);

    /**
     * The consumer thread: consumes until stopped. A consumer that fails (an exception out of poll
     * or a rebalance) is closed and made again after a pause that doubles with each failure in a
     * row; its records in progress finish, and those whose offsets were not committed are served
     * again once the group has given their partitions out (at least once). Health says why it
     * cannot consume meanwhile.
     */
    private void consume() {
        Duration backoff = FIRST_BACKOFF;
        try {
            while (running) {
                try {
                    consumer = null;
                    consumer = newConsumer();
                    consumeWith(consumer);
                    return;
                } catch (WakeupException e) {
                    return;
                } catch (RuntimeException e) {
                    failure = "the Kafka consumer failed (" + e + "); made again in " + backoff.toMillis() + " ms";
                    restarts.increment();
                    log.error("Kafka consumer failed; it is made again in {} ms", backoff.toMillis(), e);
                    try {
                        if (consumer != null) {
                            consumer.close(Duration.ZERO);
                        }
                    } catch (RuntimeException closing) {
                        log.debug("failed consumer not closed cleanly: {}", closing.toString());
                    }
                    // its partitions go to the group again: what it had in progress and did not commit is served again
                    offsets.revokedAll();
                    committed.clear();
                    awaitingCommit.clear();
                    pauseBeforeRestart(backoff);
                    backoff = backoff.multipliedBy(2).compareTo(MAX_BACKOFF) > 0 ? MAX_BACKOFF : backoff.multipliedBy(2);
                }
            }
        } finally {
            sender.shutdown();
            try {
                sender.awaitTermination(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            producer.flush();
            producer.close(Duration.ofSeconds(10));
        }
    }

    private synchronized void pauseBeforeRestart(Duration backoff) {
        long deadline = System.nanoTime() + backoff.toNanos();
        try {
            while (running && deadline - System.nanoTime() > 0) {
                wait(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            running = false;
        }
    }

    /** Consumes with one consumer until stopped (then drains and commits); a runtime exception means the consumer failed. */
    private void consumeWith(KafkaConsumer<byte[], byte[]> consumer) {
        boolean paused = false;
        // both checks at once on the first turn
        long lagCheck = System.nanoTime() - TimeUnit.HOURS.toNanos(1);
        long brokerCheck = lagCheck;
        try {
            consumer.subscribe(List.of(settings.inputTopic()), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                    commit();
                    offsets.revoked(partitions);
                    committed.keySet().removeAll(partitions);
                    awaitingCommit.removeIf(a -> partitions.contains(a.partition()));
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                }
            });
            while (running) {
                // records sent back by a passing refusal go first, in the order they came, once their pause is over
                retryDue();
                boolean full = inFlight.get() >= settings.maxInFlight() || !retries.isEmpty();
                if (full && !paused) {
                    consumer.pause(consumer.assignment());
                    paused = true;
                } else if (!full && paused && inFlight.get() <= settings.maxInFlight() / 2) {
                    consumer.resume(consumer.paused());
                    paused = false;
                }
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(paused ? 10 : 100))) {
                    consumed.increment();
                    offsets.started(new TopicPartition(r.topic(), r.partition()), r.offset());
                    inFlight.incrementAndGet();
                    serve(r);
                }
                commit();
                if (System.nanoTime() - brokerCheck > BROKER_CHECK.toNanos()) {
                    brokerCheck = System.nanoTime();
                    checkBroker();
                }
                if (System.nanoTime() - lagCheck > TimeUnit.SECONDS.toNanos(5)) {
                    lagCheck = System.nanoTime();
                    measureLag();
                }
            }
            // shutdown: the records in progress finish, their offsets are committed, then the group is left
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            consumer.pause(consumer.assignment());
            while (inFlight.get() > 0 && System.nanoTime() < deadline) {
                // records sent back by a passing refusal are still in progress: they are tried again, not left
                retryDue();
                consumer.poll(Duration.ofMillis(50));
            }
            commit();
        } finally {
            if (!running) {
                consumer.close(Duration.ofSeconds(10));
            }
        }
    }

    /**
     * Asks the broker for the input topic's end offsets (of the partitions assigned, or of all of
     * them before an assignment): health is DOWN while that fails, since records can then be
     * neither taken nor answered. A consumer that answers again clears an earlier failure.
     */
    private void checkBroker() {
        try {
            java.util.Set<TopicPartition> probe = new java.util.HashSet<>(consumer.assignment());
            if (probe.isEmpty()) {
                consumer.partitionsFor(settings.inputTopic(), Duration.ofSeconds(1))
                        .forEach(info -> probe.add(new TopicPartition(info.topic(), info.partition())));
            }
            consumer.endOffsets(probe, Duration.ofSeconds(1));
            failure = null;
        } catch (WakeupException e) {
            throw e;
        } catch (RuntimeException e) {
            failure = "the Kafka broker at " + settings.bootstrapServers() + " does not answer (" + e.getClass().getSimpleName()
                    + "); records wait in the topic";
            log.debug("Kafka broker check failed: {}", e.toString());
        }
    }

    /**
     * Whether records are being consumed: null when they are, else why not (the consumer failed and
     * is being made again, or the broker does not answer). Read by the {@code kafka} health
     * contributor, part of the readiness group.
     */
    public String failure() {
        return running ? failure : "stopped";
    }

    private void retryLater(ConsumerRecord<byte[], byte[]> r) {
        retried.increment();
        retries.add(new Retry(r, System.nanoTime() + RETRY_PAUSE.toNanos()));
    }

    /** Serves again the records whose pause after a passing refusal is over (they were added in due order). */
    private void retryDue() {
        long now = System.nanoTime();
        ArrayDeque<ConsumerRecord<byte[], byte[]>> again = new ArrayDeque<>();
        for (Retry r; (r = retries.peek()) != null && r.dueNanos() - now <= 0; ) {
            again.add(retries.poll().record());
        }
        again.forEach(this::serve);
    }

    private void measureLag() {
        try {
            var assigned = consumer.assignment();
            if (assigned.isEmpty()) {
                lag.set(0);
                return;
            }
            long total = 0;
            for (Map.Entry<TopicPartition, Long> e : consumer.endOffsets(assigned, Duration.ofSeconds(1)).entrySet()) {
                total += Math.max(0, e.getValue() - consumer.position(e.getKey(), Duration.ofSeconds(1)));
            }
            lag.set(total);
        } catch (RuntimeException e) {
            log.debug("consumer lag not measured: {}", e.toString());
        }
    }

    /** Offsets the group has from this consumer, by partition: only what advanced since is committed. */
    private final Map<TopicPartition, Long> committed = new HashMap<>();

    /** A sampled record whose answer the broker acknowledged and whose offset is not committed yet. */
    private record AwaitingCommit(TopicPartition partition, long offset, RequestTrace trace) {
    }

    /** Sampled records answered and not yet committed: each gets its commit as a span of its trace. */
    private final java.util.Queue<AwaitingCommit> awaitingCommit = new java.util.concurrent.ConcurrentLinkedQueue<>();

    private void commit() {
        Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
        offsets.committable().forEach((p, o) -> {
            if (!o.equals(committed.get(p))) {
                commit.put(p, new OffsetAndMetadata(o));
            }
        });
        if (!commit.isEmpty()) {
            try {
                long start = System.nanoTime();
                consumer.commitSync(commit, Duration.ofSeconds(10));
                commit.forEach((p, o) -> committed.put(p, o.offset()));
                traceCommit(commit, start, System.nanoTime());
            } catch (WakeupException e) {
                throw e;
            } catch (RuntimeException e) {
                log.warn("Kafka offsets not committed now ({}); the records may be served again", e.toString());
            }
        }
    }

    /**
     * The commit that covered a sampled record's offset, as a span of the record's trace (under its
     * consumer span: consume, answer, commit), one per record: a commit covers the records answered
     * since the last one.
     */
    private void traceCommit(Map<TopicPartition, OffsetAndMetadata> commit, long start, long end) {
        for (var i = awaitingCommit.iterator(); i.hasNext(); ) {
            AwaitingCommit a = i.next();
            OffsetAndMetadata to = commit.get(a.partition());
            if (to != null && a.offset() < to.offset()) {
                i.remove();
                a.trace().stage(settings.inputTopic() + " commit", start, end, "messaging.system", "kafka",
                        "messaging.operation.type", "settle", "messaging.operation.name", "commit",
                        "messaging.destination.name", a.partition().topic(),
                        "messaging.destination.partition.id", Integer.toString(a.partition().partition()),
                        "messaging.consumer.group.name", settings.groupId(), "messaging.kafka.offset", to.offset());
            }
        }
    }

    private static String header(ConsumerRecord<byte[], byte[]> r, String name) {
        Header h = r.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    /** Serves one record: its answer, or its dead letter, or (a full queue) a retry. Never blocks. */
    private void serve(ConsumerRecord<byte[], byte[]> r) {
        String model = header(r, MODEL);
        String version = header(r, VERSION);
        boolean v1 = "v1".equalsIgnoreCase(header(r, PROTOCOL));
        String key = r.key() == null ? null : new String(r.key(), StandardCharsets.UTF_8);
        reactor.core.publisher.Mono<Answer> answer;
        // the id of the CloudEvent the request came in, or null when it came bare
        String eventId = null;
        try {
            if (model == null || model.isBlank()) {
                throw new InvalidInputException("The record names no model: set the header " + MODEL);
            }
            if (r.value() == null) {
                throw new InvalidInputException("The record has no value: a V2 infer (or V1 predict) request body");
            }
            if (r.value().length > maxRequestBytes) {
                throw new InvalidInputException("The record's value holds " + r.value().length + " bytes, more than the limit of "
                        + maxRequestBytes + " (igate.max-request-size)");
            }
            // a CloudEvent carrying the request: binary mode (ce_ headers, per the Kafka binding) leaves
            // the value as it is, structured mode (content-type application/cloudevents+json) carries it in data
            CloudEvents.Incoming in = CloudEvents.unwrap(CloudEvents.mode(header(r, "content-type"), header(r, "ce_specversion") != null),
                    "ce_", name -> header(r, name), r.value());
            eventId = in.mode() == CloudEvents.Mode.NONE ? null : in.id() == null ? "" : in.id();
            byte[] value = in.data();
            // without a version the data plane follows the canary weights of the model's V2 routes, sticky by the record's key
            String asked = version;
            if (v1) {
                answer = plane.predict(DataPlane.Origin.retrying("kafka_predict", key), model, version,
                                Mono.fromCallable(() -> {
                                    V1Codec.Request request = V1Codec.decodeRequest(value);
                                    return new DataPlane.Texts(request.rows(), request.parameters());
                                }))
                        .transform(plane.encoded(c -> new Answer(null, c.version(), V1Codec.encodePredictions(c.v1(false)))));
            } else {
                answer = plane.infer(DataPlane.Origin.retrying("kafka_infer", key), model, version,
                                Mono.fromCallable(() -> V2Codec.decodeInfer(model, asked, value)))
                        .transform(plane.encoded(a -> new Answer(a.response().id(), a.response().version(), V2Codec.encodeInfer(a.response()))));
            }
        } catch (RuntimeException e) {
            answer = reactor.core.publisher.Mono.error(e);
        }
        String servedModel = model;
        String requestEvent = eventId;
        // the record's consumer span, continuing the trace its traceparent header names: its answer or dead letter carries it on
        RequestTrace trace = tracing.start(settings.inputTopic() + " process", io.micrometer.tracing.Span.Kind.CONSUMER, carrier(r),
                "messaging.system", "kafka", "messaging.destination.name", r.topic(), "messaging.operation.type", "process",
                "messaging.destination.partition.id", Integer.toString(r.partition()), "messaging.kafka.offset", r.offset());
        answer.contextWrite(context -> trace == RequestTrace.NONE ? context : context.put(RequestTrace.class, trace))
                .subscribe(a -> send(r, settings.outputTopic(), a.body(), traced(cloudEvent(headers(servedModel, a.version(),
                        a.id() != null ? a.id() : key, null), requestEvent, servedModel), trace), answered, trace),
                e -> {
                    Throwable cause = ErrorStatus.unwrap(e);
                    if (cause instanceof InferenceException refused && refused.retryable()) {
                        // no 503 over Kafka: the record waits (a full queue, a version loading or being replaced,
                        // a remote predictor down) and is tried again, and the consumer pauses meanwhile
                        trace.end(e);
                        retryLater(r);
                        return;
                    }
                    String message = cause instanceof InferenceException ? cause.getMessage()
                            : "Internal server error";
                    if (!(cause instanceof InferenceException)) {
                        log.warn("Kafka record {}-{}@{} failed: {}", r.topic(), r.partition(), r.offset(), cause.toString());
                    }
                    send(r, settings.deadLetterTopic(), r.value(), traced(headers(servedModel, null, key, message), trace), deadLettered,
                            trace);
                });
    }

    private record Answer(String id, String version, byte[] body) {
    }


    /**
     * An answer to a CloudEvent is a CloudEvent in binary mode per the Kafka binding, as KServe
     * answers one on HTTP: type io.kserve.inference.response, source io.kserve.inference.<model>,
     * a new id, the request event's id as the extension requestid.
     */
    private static RecordHeaders cloudEvent(RecordHeaders headers, String requestEvent, String model) {
        if (requestEvent == null) {
            return headers;
        }
        headers.add("ce_specversion", "1.0".getBytes(StandardCharsets.UTF_8));
        headers.add("ce_id", CloudEvents.randomId().getBytes(StandardCharsets.UTF_8));
        headers.add("ce_source", ("io.kserve.inference." + model).getBytes(StandardCharsets.UTF_8));
        headers.add("ce_type", CloudEvents.RESPONSE_TYPE.getBytes(StandardCharsets.UTF_8));
        headers.add("ce_requestid", requestEvent.getBytes(StandardCharsets.UTF_8));
        headers.add("content-type", "application/json".getBytes(StandardCharsets.UTF_8));
        return headers;
    }

    private static RecordHeaders headers(String model, String version, String correlation, String error) {
        RecordHeaders h = new RecordHeaders();
        if (model != null) {
            h.add(MODEL, model.getBytes(StandardCharsets.UTF_8));
        }
        if (version != null) {
            h.add(VERSION, version.getBytes(StandardCharsets.UTF_8));
        }
        if (correlation != null) {
            h.add(CORRELATION, correlation.getBytes(StandardCharsets.UTF_8));
        }
        if (error != null) {
            h.add(ERROR, error.getBytes(StandardCharsets.UTF_8));
        }
        return h;
    }

    /** Produces the answer or dead letter; the record's offset is done once the broker acknowledged it. */
    /** A record's trace context, from its {@code traceparent} and {@code tracestate} headers. */
    private static Map<String, String> carrier(ConsumerRecord<byte[], byte[]> r) {
        String traceparent = header(r, "traceparent");
        if (traceparent == null) {
            return Map.of();
        }
        String tracestate = header(r, "tracestate");
        return tracestate == null ? Map.of("traceparent", traceparent) : Map.of("traceparent", traceparent, "tracestate", tracestate);
    }

    /** The headers with the record's trace context added ({@code traceparent}, {@code tracestate}), so its answer joins its trace. */
    private static RecordHeaders traced(RecordHeaders headers, RequestTrace trace) {
        trace.headers().forEach((name, value) -> headers.add(name, value.getBytes(StandardCharsets.UTF_8)));
        return headers;
    }

    private void send(ConsumerRecord<byte[], byte[]> r, String topic, byte[] value, RecordHeaders headers, Counter counter, RequestTrace trace) {
        try {
            sender.execute(() -> produce(r, topic, value, headers, counter, trace));
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // shutting down: not acknowledged, so served again after the restart
            log.debug("Kafka answer to {} not sent: shutting down", topic);
        }
    }

    private void produce(ConsumerRecord<byte[], byte[]> r, String topic, byte[] value, RecordHeaders headers, Counter counter,
                         RequestTrace trace) {
        TopicPartition partition = new TopicPartition(r.topic(), r.partition());
        long sent = System.nanoTime();
        try {
            producer.send(new ProducerRecord<>(topic, null, r.key(), value, headers), (metadata, e) -> {
                trace.stage(topic + " publish", sent, System.nanoTime(), "messaging.system", "kafka", "messaging.destination.name", topic,
                        "messaging.operation.type", "send");
                trace.end(e);
                if (e == null) {
                    counter.increment();
                    if (trace.recording()) {
                        awaitingCommit.add(new AwaitingCommit(partition, r.offset(), trace));
                    }
                    offsets.done(partition, r.offset());
                    inFlight.decrementAndGet();
                } else {
                    // not acknowledged: served again, never lost
                    log.warn("Kafka answer to {} not acknowledged ({}); the record is served again", topic, e.toString());
                    retryLater(r);
                }
            });
        } catch (RuntimeException e) {
            log.warn("Kafka answer to {} not sent ({}); the record is served again", topic, e.toString());
            trace.end(e);
            retryLater(r);
        }
    }

    @Override
    public void stop() {
        Thread t;
        synchronized (this) {
            if (!running) {
                return;
            }
            running = false;
            t = thread;
            // a consumer waiting to be made again stops waiting
            notifyAll();
        }
        try {
            t.join(TimeUnit.SECONDS.toMillis(45));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public boolean isRunning() {
        return running;
    }

    /** Stops before the model registry closes the versions, after the web server stopped taking requests. */
    @Override
    public int getPhase() {
        return Integer.MAX_VALUE - 2000;
    }

    /** Records in progress (for tests). */
    int inFlight() {
        return inFlight.get();
    }
}
