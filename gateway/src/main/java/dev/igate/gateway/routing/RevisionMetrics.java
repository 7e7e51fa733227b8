package dev.igate.gateway.routing;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import dev.igate.gateway.http.ErrorStatus;
import dev.igate.protocol.ServerBusyException;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import org.springframework.context.annotation.Lazy;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Mono;

/**
 * Records one answered call of a revision, whichever protocol carried it: the
 * {@code igate_revision_requests_seconds} timer by weight group, revision and outcome, and the
 * sample {@link CanaryGuard} judges automatic rollback on. REST calls are recorded by the
 * {@code Revision=} filter, gRPC and Kafka calls that the weights routed by {@link #recorded}.
 */
@Component
public class RevisionMetrics {

    public static final String METRIC = "igate.revision.requests";

    private final MeterRegistry meters;
    private final CanaryGuard guard;
    /** The timers by group, revision and outcome: one map look-up per call instead of registering an id. */
    private final java.util.Map<List<String>, Timer> timers = new java.util.concurrent.ConcurrentHashMap<>();

    public RevisionMetrics(MeterRegistry meters, @Lazy CanaryGuard guard) {
        this.meters = meters;
        this.guard = guard;
    }

    /**
     * @param status  the answer's HTTP status, or the HTTP status of the error a gRPC call ended with
     * @param refused whether the call was refused for load (a full queue, past its wait): counted,
     *                but not held against the revision by the automatic rollback, since a refusal
     *                says how busy the server is, not how good the revision is
     */
    public void record(String group, String revision, String model, boolean autoRollback, long nanos, int status, boolean refused) {
        String outcome = ErrorStatus.outcome(status);
        if (!refused) {
            guard.record(model, group, revision, autoRollback, nanos, status);
        }
        List<String> key = List.of(String.valueOf(group), revision, outcome);
        Timer timer = timers.get(key);
        if (timer == null) {
            timer = timers.computeIfAbsent(key, k -> Timer.builder(METRIC).tag("group", String.valueOf(group))
                    .tag("revision", revision).tag("outcome", outcome)
                    .publishPercentileHistogram().minimumExpectedValue(Duration.ofMillis(1))
                    .maximumExpectedValue(Duration.ofSeconds(30))
                    .register(meters));
        }
        timer.record(nanos, TimeUnit.NANOSECONDS);
    }

    /**
     * The work of a call the weights sent to {@code revision}, recorded when it answers (nothing when
     * null); an error for which {@code answers} is false (one the transport tries again) is not.
     */
    public <T> Mono<T> recorded(Revision revision, Mono<T> work, Predicate<Throwable> answers) {
        if (revision == null) {
            return work;
        }
        return Mono.defer(() -> {
            long start = System.nanoTime();
            return work.doOnSuccess(v -> record(revision, System.nanoTime() - start, 200, false))
                    .doOnError(e -> {
                        if (answers.test(e)) {
                            record(revision, System.nanoTime() - start, ErrorStatus.httpStatus(e), refusedForLoad(e));
                        }
                    });
        });
    }

    /** Whether an error is a refusal for load (a full queue, a wait past its bound), not a failure of the revision. */
    public static boolean refusedForLoad(Throwable e) {
        return ErrorStatus.unwrap(e) instanceof ServerBusyException;
    }

    /** Records one answered call of a revision (see {@link #record(String, String, String, boolean, long, int, boolean)}). */
    public void record(Revision r, long nanos, int status, boolean refused) {
        record(r.group(), r.revision(), r.model(), r.autoRollback(), nanos, status, refused);
    }
}
