package dev.igate.predictor.batching;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

import dev.igate.protocol.InferenceFailedException;
import dev.igate.protocol.ModelNotReadyException;
import dev.igate.protocol.ServerBusyException;

/**
 * Dynamic batching for one model version: callers {@link #submit} jobs, dedicated worker
 * threads merge compatible queued jobs into one run of at most {@code maxBatchSize} rows (and
 * {@code maxBatchTokens} padded tokens). There is one worker per instance of the version's
 * layout, so as many batches run at once as the version has instances, each on its own session,
 * as far as the device gate allows.
 *
 * <p>Where a batch runs: on the worker's instance, with the run's share of the device; or, when
 * a single request is queued and the device is idle with nobody waiting for it, on the solo
 * session with the whole device (a lone request gets all cores, load gets the throughput
 * layout). When other instances are free as a batch is formed, it takes only its share of the
 * queued rows, so the rest run beside it instead of after it.
 *
 * <p>When a batch goes: as soon as it is full, or when its oldest job has waited
 * {@code maxLatency}. A worker that finds a lone job and saw no concurrent load in its last
 * batch sends it at once (as Triton does without a queue delay), so light traffic pays no
 * batching latency; under load it waits up to {@code maxLatency} for companions.
 *
 * <p>Priority, as Triton's priority levels with a queue policy per level: a job queues behind the
 * jobs of its level and the higher ones (level 1 is the highest), each delayed by
 * {@code priority-aging} per level (a job of level L sorts as if it had come (L - 1) x aging later),
 * so a lower level is passed only by higher-level jobs that came less than that after it and never
 * waits behind them forever. Admission is per level: a job is refused when queue-capacity jobs of its
 * level or higher ones are queued (what it would wait behind), not when lower levels fill the queue;
 * the queue holds at most {@value #LEVELS_BOUND} x queue-capacity jobs in all, whatever their levels.
 *
 * <p>Overload: a full queue refuses at once with {@link ServerBusyException} (503 +
 * Retry-After); a job still queued when its timeout expires is answered with
 * {@link dev.igate.protocol.QueueTimeoutException} and never run; a job whose future is cancelled
 * leaves the queue. Every submitted job's future completes exactly once.
 *
 * @param <J> the job type
 */
public final class DynamicBatcher<J extends BatchJob<?>> implements AutoCloseable, InstanceScheduler {

    private static final ScheduledThreadPoolExecutor TIMEOUTS = new ScheduledThreadPoolExecutor(1, r -> {
        Thread t = new Thread(r, "batcher-timeouts");
        t.setDaemon(true);
        return t;
    });

    static {
        // a completed job's timeout leaves the timer's queue at once, so it keeps nothing reachable
        TIMEOUTS.setRemoveOnCancelPolicy(true);
    }

    private final String name;
    private final BatchingSettings settings;
    private final BatchExecutor<J> executor;
    private final BatchListener listener;
    private final long maxLatencyNanos;
    private final long agingNanos;
    /** The whole queue's bound, in queue-capacities: levels beyond a few share it, so memory stays bounded. */
    static final int LEVELS_BOUND = 4;
    /** Jobs queued per priority level (guarded by the lock): what a level's admission counts. */
    private final java.util.TreeMap<Long, Integer> queuedPerLevel = new java.util.TreeMap<>();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition arrived = lock.newCondition();
    private final LinkedList<J> queue = new LinkedList<>();
    private final List<Thread> workers = new ArrayList<>();
    /** Workers waiting for their turn on the device (guarded by the lock). */
    private final java.util.Set<Thread> waitingForDevice = new java.util.HashSet<>();
    private volatile boolean running = true;
    private final DeviceGate gate;
    private final int runUnits;
    private int lastBatchRows;
    /** Tokens of the jobs in the queue (guarded by the lock). */
    private long queuedTokens;
    /** Measured speed of runs, tokens per second of the device: a moving average over runs. */
    private volatile double tokensPerSecond;
    private static final double RATE_WEIGHT = 0.2;
    private static final int COLD_RUNS = 2;
    private static final int MIN_MEASURED_RUNS = 4;
    private final AtomicInteger measuredRuns = new AtomicInteger();
    /** Workers that took a batch and run it; guarded by the lock. */
    private int runningWorkers;

    public DynamicBatcher(String name, BatchingSettings settings, BatchExecutor<J> executor, BatchListener listener) {
        this(name, settings, executor, listener, DeviceGate.UNLIMITED, 1);
    }

    /**
     * @param gate     shared with the batchers of other sessions on the same device: a worker holds
     *                 {@code runUnits} of it while it forms and runs a batch, so jobs queue up while
     *                 the device is busy and go together
     * @param runUnits the share of the gate one run on an instance takes (its intra-op threads on a CPU)
     */
    public DynamicBatcher(String name, BatchingSettings settings, BatchExecutor<J> executor, BatchListener listener,
                          DeviceGate gate, int runUnits) {
        this.gate = gate;
        this.runUnits = runUnits;
        this.name = name;
        this.settings = settings;
        this.executor = executor;
        this.listener = listener;
        this.maxLatencyNanos = settings.maxLatency().toNanos();
        this.agingNanos = settings.priorityAging().toNanos();
        ThreadFactory threads = daemonThreads("batch-" + name);
        for (int i = 0; i < executor.instances(); i++) {
            int instance = i;
            Thread t = threads.newThread(() -> work(instance));
            workers.add(t);
            t.start();
        }
    }

    private static ThreadFactory daemonThreads(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + "-" + n.getAndIncrement());
            t.setDaemon(true);
            return t;
        };
    }

    public BatchingSettings settings() {
        return settings;
    }

    /**
     * Queues a job. Never blocks.
     *
     * @return the job's future, which the batcher completes
     * @throws ServerBusyException   when the queue is full
     * @throws ModelNotReadyException when the batcher was closed
     */
    @Override
    public <R> java.util.concurrent.CompletableFuture<R> submit(BatchJob<R> job) {
        @SuppressWarnings("unchecked")
        J typed = (J) job;
        lock.lock();
        try {
            admit(job.scheduling().level());
            job.enqueuedNanos = System.nanoTime();
            job.orderNanos = job.enqueuedNanos + levelOffset(job.scheduling().level());
            enqueue(typed);
            // idle workers and a worker waiting for companions share the condition: wake them all (few)
            arrived.signalAll();
        } finally {
            lock.unlock();
        }
        Duration limit = timeoutOf(job);
        ScheduledFuture<?> timeout = TIMEOUTS.schedule(() -> expire(typed, limit), limit.toNanos(), TimeUnit.NANOSECONDS);
        job.timeout = timeout;
        job.future().whenComplete((r, e) -> {
            timeout.cancel(false);
            if (e instanceof CancellationException && remove(typed)) {
                listener.cancelled();
            }
        });
        return job.future();
    }

    /**
     * Refuses at once what {@link #submit} would refuse now (queue full, or a wait past
     * max-queue-wait), so a caller can find out before it prepares a job (tokenizes). Never blocks
     * for long: a moment under the queue's lock.
     *
     * @throws ServerBusyException   when a job would be refused
     * @throws ModelNotReadyException when the batcher was closed
     */
    public void checkAdmission() {
        checkAdmission(1);
    }

    /** As {@link #checkAdmission()}, for a job of priority {@code level}: it waits only behind its level and higher ones. */
    public void checkAdmission(long level) {
        lock.lock();
        try {
            admit(level);
        } finally {
            lock.unlock();
        }
    }

    /** The checks of {@link #submit} for a job of priority {@code level}; call with the lock held. */
    private void admit(long level) {
        if (!running) {
            throw new ModelNotReadyException("Model " + name + " is unloading");
        }
        int ahead = queuedAtOrAbove(level);
        boolean full = queue.size() >= (long) LEVELS_BOUND * settings.queueCapacity();
        if (ahead >= settings.queueCapacity() || full) {
            listener.rejected();
            String queued = full || ahead == queue.size() ? queue.size() + " requests queued"
                    : ahead + " requests queued at priority " + level + " or higher";
            throw new ServerBusyException("Model " + name + " has " + queued + ", retry later", Duration.ofSeconds(1));
        }
        long waitNanos = expectedWaitNanos(level);
        if (!settings.maxQueueWait().isZero() && waitNanos > settings.maxQueueWait().toNanos()) {
            listener.rejected();
            throw new ServerBusyException("Model " + name + " is busy: a request would wait about "
                    + Duration.ofNanos(waitNanos).toMillis() + " ms in its queue (max-queue-wait "
                    + settings.maxQueueWait().toMillis() + " ms), retry later",
                    Duration.ofSeconds(Math.max(1, (waitNanos + 999_999_999L) / 1_000_000_000L)));
        }
    }

    /** A job's queue timeout: its own when it asks for a shorter one than the batcher's. */
    private Duration timeoutOf(BatchJob<?> job) {
        Duration asked = job.scheduling().timeout();
        return asked != null && asked.compareTo(settings.timeout()) < 0 ? asked : settings.timeout();
    }

    /** What a priority level is worth in queue time: (level - 1) x priority-aging, bounded so sums never overflow. */
    private long levelOffset(long level) {
        if (agingNanos == 0) {
            return 0;
        }
        long cap = Long.MAX_VALUE / 4;
        return level - 1 > cap / agingNanos ? cap : (level - 1) * agingNanos;
    }

    /**
     * Whether a queued job stays ahead of a job of {@code level} sorting at {@code order}: with
     * priority aging, the earlier order (ties: the one queued first); strict, the higher level, then
     * the one queued first.
     */
    private boolean staysAhead(BatchJob<?> queued, long level, long order) {
        if (agingNanos == 0) {
            long l = queued.scheduling().level();
            return l < level || l == level && queued.orderNanos - order <= 0;
        }
        return queued.orderNanos - order <= 0;
    }

    /** Queues a job behind every job that stays ahead of it; the batches form from the head. Guarded by the lock. */
    private void enqueue(J job) {
        long level = job.scheduling().level();
        queuedTokens += tokens(job);
        queuedPerLevel.merge(level, 1, Integer::sum);
        if (queue.isEmpty() || staysAhead(queue.getLast(), level, job.orderNanos)) {
            queue.addLast(job);
            return;
        }
        java.util.ListIterator<J> it = queue.listIterator(queue.size());
        while (it.hasPrevious()) {
            if (staysAhead(it.previous(), level, job.orderNanos)) {
                it.next();
                break;
            }
        }
        it.add(job);
    }

    /** Book-keeping of a job that left the queue (taken into a batch, expired, cancelled). Guarded by the lock. */
    private void dequeued(BatchJob<?> job) {
        queuedTokens -= tokens(job);
        queuedPerLevel.computeIfPresent(job.scheduling().level(), (l, n) -> n == 1 ? null : n - 1);
    }

    /** Jobs queued at {@code level} or a higher one (a lower number): what a job of that level waits behind. Guarded by the lock. */
    private int queuedAtOrAbove(long level) {
        if (queuedPerLevel.size() <= 1 && (queuedPerLevel.isEmpty() || queuedPerLevel.firstKey() <= level)) {
            return queue.size();
        }
        int n = 0;
        for (int count : queuedPerLevel.headMap(level, true).values()) {
            n += count;
        }
        return n;
    }

    private void expire(J job, Duration limit) {
        if (remove(job)) {
            listener.timedOut();
            String ms = limit.toNanos() % 1_000_000 == 0 ? limit.toMillis() + " ms" : limit.toNanos() / 1000 + " µs";
            job.future().completeExceptionally(new dev.igate.protocol.QueueTimeoutException("Request timed out after " + ms
                    + " in the queue of model " + name, Duration.ofSeconds(1)));
        }
    }

    private boolean remove(J job) {
        lock.lock();
        try {
            if (queue.remove(job)) {
                dequeued(job);
                return true;
            }
            return false;
        } finally {
            lock.unlock();
        }
    }

    /**
     * The work a job brings to the queue, in tokens (rows x row length; a row without a length
     * counts one). Explanation pieces count nothing: they have their own queue and limits.
     */
    private static long tokens(BatchJob<?> job) {
        return job instanceof InstanceJob ? 0 : (long) job.rows() * Math.max(1, job.rowLength());
    }

    /** Folds a run's speed into the measured rate: tokens per second of the whole device (every instance at work). */
    private void measure(List<J> ran, Placement placement, long runNanos) {
        // the first runs (warm-up, cold caches) say nothing about the speed under load
        if (runNanos <= 0 || ran.get(0) instanceof InstanceJob || measuredRuns.incrementAndGet() <= COLD_RUNS) {
            return;
        }
        int longest = 1;
        int rows = 0;
        for (J job : ran) {
            longest = Math.max(longest, job.rowLength());
            rows += job.rows();
        }
        double rate = (double) rows * longest * 1e9 / runNanos * (placement.solo() ? 1 : workers.size());
        double before = tokensPerSecond;
        tokensPerSecond = before == 0 ? rate : before + RATE_WEIGHT * (rate - before);
    }

    /**
     * How long a request queued now is expected to wait before its run: the queued tokens over the
     * measured rate; 0 until a few runs were measured (nothing is known yet).
     */
    public Duration expectedQueueWait() {
        lock.lock();
        try {
            return Duration.ofNanos(expectedWaitNanos());
        } finally {
            lock.unlock();
        }
    }

    private long expectedWaitNanos() {
        return expectedWaitNanos(Long.MAX_VALUE);
    }

    /**
     * The expected wait of a job of priority {@code level} queued now: the tokens queued ahead of
     * where it would sort over the measured rate. Higher levels that come later can still pass it,
     * for at most (level - 1) x priority-aging. Guarded by the lock.
     */
    private long expectedWaitNanos(long level) {
        double rate = tokensPerSecond;
        if (rate <= 0 || measuredRuns.get() < COLD_RUNS + MIN_MEASURED_RUNS) {
            return 0;
        }
        long order = System.nanoTime() + levelOffset(level);
        long ahead = queuedTokens;
        if (!queue.isEmpty() && !staysAhead(queue.getLast(), level, order)) {
            ahead = 0;
            for (J job : queue) {
                if (!staysAhead(job, level, order)) {
                    break;
                }
                ahead += tokens(job);
            }
        }
        return (long) (ahead / rate * 1e9);
    }

    /** Jobs waiting for a worker. */
    public int queueDepth() {
        lock.lock();
        try {
            return queue.size();
        } finally {
            lock.unlock();
        }
    }

    private void work(int instance) {
        Placement own = new Placement(instance);
        while (running) {
            DeviceGate.Permit permit;
            try {
                awaitJob();
                if (!running) {
                    return;
                }
                // companions are awaited before the device is taken: waiting must not keep other versions off it
                awaitCompanions();
                // the batch is formed once the device is ours: what queued while another run held it goes with it
                permit = acquire();
                if (permit == null) {
                    return;
                }
            } catch (InterruptedException e) {
                return;
            }
            try (permit) {
                List<J> batch = takeBatch(permit);
                if (batch != null) {
                    run(batch, permit.whole() ? Placement.SOLO : own);
                }
            } finally {
                lock.lock();
                try {
                    runningWorkers--;
                } finally {
                    lock.unlock();
                }
            }
        }
    }

    /** Blocks until a job is queued or the batcher closes. */
    private void awaitJob() throws InterruptedException {
        lock.lockInterruptibly();
        try {
            while (queue.isEmpty() && running) {
                arrived.await();
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Under load, waits until the oldest request's companions fill a batch or it has waited
     * {@code max-latency}; a lone request after a lone batch goes at once. Takes nothing.
     */
    private void awaitCompanions() throws InterruptedException {
        lock.lockInterruptibly();
        try {
            boolean underLoad = queue.size() > 1 || lastBatchRows > 1;
            if (!underLoad || maxLatencyNanos == 0) {
                return;
            }
            while (running && !queue.isEmpty()) {
                // the head may change meanwhile (expired, cancelled, taken by a sibling worker): judge the current one
                J first = queue.getFirst();
                long remaining = first.enqueuedNanos + maxLatencyNanos - System.nanoTime();
                if (form(first, false).full() || remaining <= 0) {
                    return;
                }
                arrived.awaitNanos(remaining);
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * The whole device when this batch would be all the work there is and the device is idle;
     * else this instance's share, waiting in turn. Null once the batcher closes (a closing
     * batcher must not wait its turn).
     */
    private DeviceGate.Permit acquire() throws InterruptedException {
        if (soloCandidate()) {
            DeviceGate.Permit whole = gate.tryAcquireIdle();
            if (whole != null) {
                return whole;
            }
        }
        Thread self = Thread.currentThread();
        lock.lock();
        try {
            if (!running) {
                return null;
            }
            waitingForDevice.add(self);
        } finally {
            lock.unlock();
        }
        try {
            // one wait in the gate's queue, so the turn is kept; close() interrupts it
            return gate.acquire(runUnits);
        } catch (InterruptedException e) {
            return null;
        } finally {
            lock.lock();
            try {
                waitingForDevice.remove(self);
                // an interrupt meant for the wait must not reach the run that follows it
                Thread.interrupted();
            } finally {
                lock.unlock();
            }
        }
    }

    private boolean soloCandidate() {
        lock.lock();
        try {
            if (queue.isEmpty()) {
                return false;
            }
            J first = queue.getFirst();
            return queue.size() == 1 && !(first instanceof InstanceJob) && executor.canRunSolo(first);
        } finally {
            lock.unlock();
        }
    }

    /**
     * The oldest request and the queued ones that can share its run; null when none is left. With
     * other instances free to run beside this one (workers not running a batch, with room on the
     * device), it takes its share of the queued rows and wakes them for the rest. Counts this
     * worker, and its permit, as running.
     */
    private List<J> takeBatch(DeviceGate.Permit permit) {
        lock.lock();
        try {
            int others = workers.size() - 1 - runningWorkers;
            runningWorkers++;
            permit.running();
            if (queue.isEmpty()) {
                return null;
            }
            int share = Integer.MAX_VALUE;
            int room = gate.capacity() == 0 ? others : gate.unitsNotRunning() / Math.max(1, runUnits);
            int free = permit.whole() ? 0 : Math.min(others, room);
            if (free > 0) {
                int queued = form(queue.getFirst(), false).jobs().stream().mapToInt(BatchJob::rows).sum();
                share = Math.max(1, (queued + free) / (free + 1));
            }
            List<J> batch = form(queue.getFirst(), true, share).jobs();
            lastBatchRows = batch.stream().mapToInt(BatchJob::rows).sum();
            if (!queue.isEmpty()) {
                arrived.signalAll();
            }
            return batch;
        } finally {
            lock.unlock();
        }
    }

    /**
     * What a batch headed by {@code first} holds.
     *
     * @param jobs the jobs, in queue order
     * @param full whether a limit stopped it (rows or tokens), so waiting longer adds nothing
     */
    private record Formed<J>(List<J> jobs, boolean full) {
    }

    /**
     * Forms the batch headed by {@code first} from the queue, in queue order: jobs with its key,
     * up to max-batch-size rows and max-batch-tokens padded tokens (a first job over a limit goes
     * alone). Removes the jobs when {@code take}. Call with the lock held.
     */
    private Formed<J> form(J first, boolean take) {
        return form(first, take, Integer.MAX_VALUE);
    }

    /** As {@link #form(BatchJob, boolean)}, stopping once the batch holds {@code share} rows. */
    private Formed<J> form(J first, boolean take, int share) {
        List<J> batch = new ArrayList<>();
        int rows = 0;
        int longest = 0;
        boolean full = false;
        long now = System.nanoTime();
        for (Iterator<J> it = queue.iterator(); it.hasNext(); ) {
            J job = it.next();
            if (!job.key().equals(first.key())) {
                continue;
            }
            if (rows >= share) {
                break;
            }
            int length = Math.max(longest, job.rowLength());
            boolean fits = rows + job.rows() <= settings.maxBatchSize()
                    && (settings.maxBatchTokens() == 0 || length == 0 || (long) (rows + job.rows()) * length <= settings.maxBatchTokens());
            if (!batch.isEmpty() && !fits) {
                full = true;
                break;
            }
            if (take) {
                it.remove();
                dequeued(job);
                job.dequeuedNanos = now;
            }
            batch.add(job);
            rows += job.rows();
            longest = length;
        }
        return new Formed<>(batch, full || rows >= settings.maxBatchSize());
    }

    private void run(List<J> batch, Placement placement) {
        List<J> live = new ArrayList<>(batch.size());
        for (J job : batch) {
            if (!job.future().isDone()) {
                live.add(job);
                listener.queued(job.queueNanos());
            }
        }
        if (live.isEmpty()) {
            return;
        }
        int rows = live.stream().mapToInt(BatchJob::rows).sum();
        long start = System.nanoTime();
        try {
            if (live.get(0) instanceof InstanceJob<?> task) {
                task.runOn(placement);
            } else {
                executor.execute(live, placement);
            }
        } catch (RuntimeException e) {
            if (live.size() == 1) {
                fail(live.get(0), e);
            } else {
                isolate(live, placement);
            }
        } catch (Error e) {
            live.forEach(job -> fail(job, e));
        } finally {
            long runNanos = System.nanoTime() - start;
            measure(live, placement, runNanos);
            listener.executed(live.size(), rows, runNanos, placement);
            int padded = 0;
            for (J job : live) {
                padded = Math.max(padded, job.rowLength());
            }
            listener.ran(live, rows, padded, start, runNanos, placement);
            boolean inference = !(live.get(0) instanceof InstanceJob<?>);
            if (inference) {
                listener.inferred(rows, runNanos);
            }
            for (J job : live) {
                if (!job.future().isDone()) {
                    job.future().completeExceptionally(new InferenceFailedException("Batch executor left a job unanswered", null));
                }
                if (inference) {
                    listener.finished(!job.future().isCompletedExceptionally(), job.queueNanos(), runNanos);
                }
            }
        }
    }

    /**
     * A batch of several jobs failed: runs each unanswered job alone, so that only a job that fails
     * on its own fails (one client's bad input must not fail the requests that shared its batch).
     */
    private void isolate(List<J> failed, Placement placement) {
        for (J job : failed) {
            if (job.future().isDone()) {
                continue;
            }
            try {
                executor.execute(List.of(job), placement);
            } catch (RuntimeException e) {
                fail(job, e);
            }
        }
    }

    private static void fail(BatchJob<?> job, Throwable e) {
        job.future().completeExceptionally(e instanceof dev.igate.protocol.InferenceException ? e
                : new InferenceFailedException("Batch run failed: " + e.getMessage(), e));
    }

    /** Stops the workers after their current batch; queued jobs are answered with 503. */
    @Override
    public void close() {
        List<J> left;
        lock.lock();
        try {
            running = false;
            left = new ArrayList<>(queue);
            queue.clear();
            queuedTokens = 0;
            queuedPerLevel.clear();
            arrived.signalAll();
            // a closing batcher must not wait its turn on a device another version holds
            for (Thread waiting : waitingForDevice) {
                waiting.interrupt();
            }
        } finally {
            lock.unlock();
        }
        for (J job : left) {
            job.future().completeExceptionally(new ModelNotReadyException("Model " + name + " was unloaded"));
        }
        // the session must outlive every run: wait for the workers whatever it takes
        for (Thread t : workers) {
            boolean interrupted = false;
            while (t.isAlive()) {
                try {
                    t.join();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
