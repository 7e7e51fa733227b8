package dev.igate.predictor.batching;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.OnnxModelTests;
import dev.igate.predictor.SessionSettings;
import dev.igate.protocol.ModelNotReadyException;
import dev.igate.protocol.ServerBusyException;
import dev.igate.protocol.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The batcher over a real ONNX Runtime session (the tiny linear model y = x·W + b), with a gate
 * in front of the executor so tests can hold the worker busy and shape the queue.
 */
class DynamicBatcherTests {

    static OnnxModel model;
    final List<Integer> batchRows = new CopyOnWriteArrayList<>();
    final List<BatchJob<?>> executed = new CopyOnWriteArrayList<>();
    final AtomicInteger rejected = new AtomicInteger();
    final AtomicInteger timedOut = new AtomicInteger();
    final AtomicInteger cancelled = new AtomicInteger();
    volatile CountDownLatch gate = new CountDownLatch(0);
    final CountDownLatch firstRunStarted = new CountDownLatch(1);
    DynamicBatcher<BatchJob<?>> batcher;

    @BeforeAll
    static void load() throws Exception {
        model = OnnxModel.load(OnnxModelTests.linearModel(), new SessionSettings("cpu", 1, 1, "all"), "linear");
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @AfterEach
    void stop() {
        gate.countDown();
        if (batcher != null) {
            batcher.close();
        }
    }

    DynamicBatcher<BatchJob<?>> batcher(int maxBatch, Duration maxLatency, int capacity, Duration timeout) {
        return batcher(new BatchingSettings(maxBatch, maxLatency, capacity, timeout));
    }

    DynamicBatcher<BatchJob<?>> batcher(BatchingSettings settings) {
        OnnxBatchExecutor onnx = new OnnxBatchExecutor(model, "y", 0);
        BatchExecutor<BatchJob<?>> gated = (batch, where) -> {
            firstRunStarted.countDown();
            try {
                gate.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            executed.addAll(batch);
            onnx.execute(batch, where);
        };
        BatchListener listener = new BatchListener() {
            @Override
            public void executed(int jobs, int rows, long runNanos, Placement placement) {
                batchRows.add(rows);
            }

            @Override
            public void rejected() {
                rejected.incrementAndGet();
            }

            @Override
            public void timedOut() {
                timedOut.incrementAndGet();
            }

            @Override
            public void cancelled() {
                cancelled.incrementAndGet();
            }
        };
        batcher = new DynamicBatcher<>("linear", settings, gated, listener);
        return batcher;
    }

    /** Batch sizes once {@code count} runs were reported (the listener hears of a run just after its jobs are answered). */
    List<Integer> batches(int count) {
        await().atMost(Duration.ofSeconds(5)).until(() -> batchRows.size() >= count);
        return List.copyOf(batchRows);
    }

    static TensorJob job(int rows, float seed) {
        float[] x = new float[rows * 3];
        for (int i = 0; i < x.length; i++) {
            x[i] = seed + i;
        }
        return new TensorJob(List.of(Tensor.ofFloats("x", new long[] {rows, 3}, x)), List.of("y"), true);
    }

    static float[] alone(TensorJob job) {
        return model.run(job.inputs(), job.outputs()).get(0).floats();
    }

    /** Holds the worker in its first run so that later jobs queue up. */
    CompletableFuture<List<Tensor>> occupyWorker() throws InterruptedException {
        gate = new CountDownLatch(1);
        CompletableFuture<List<Tensor>> first = batcher.submit(job(1, -1));
        assertThat(firstRunStarted.await(5, TimeUnit.SECONDS)).isTrue();
        return first;
    }

    @Test
    void queuedJobsMergeIntoOneRunAndEachCallerGetsItsOwnRows() throws Exception {
        batcher(32, Duration.ofMillis(5), 100, Duration.ofSeconds(10));
        CompletableFuture<List<Tensor>> first = occupyWorker();
        List<TensorJob> jobs = new ArrayList<>();
        List<CompletableFuture<List<Tensor>>> futures = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            TensorJob j = job(1 + i % 3, i * 10f);
            jobs.add(j);
            futures.add(batcher.submit(j));
        }

        gate.countDown();

        first.get(5, TimeUnit.SECONDS);
        for (int i = 0; i < jobs.size(); i++) {
            Tensor y = futures.get(i).get(5, TimeUnit.SECONDS).get(0);
            assertThat(y.shape()).containsExactly(jobs.get(i).rows(), 2);
            assertThat(y.floats()).containsExactly(alone(jobs.get(i)));
        }
        assertThat(batches(2)).containsExactly(1, jobs.stream().mapToInt(TensorJob::rows).sum());
    }

    @Test
    void batchesNeverExceedMaxBatchSizeRows() throws Exception {
        batcher(8, Duration.ofMillis(5), 100, Duration.ofSeconds(10));
        CompletableFuture<List<Tensor>> first = occupyWorker();
        List<CompletableFuture<List<Tensor>>> futures = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            futures.add(batcher.submit(job(3, i)));
        }
        futures.add(batcher.submit(job(20, 0)));

        gate.countDown();

        first.get(5, TimeUnit.SECONDS);
        for (CompletableFuture<List<Tensor>> f : futures) {
            f.get(5, TimeUnit.SECONDS);
        }
        // 3-row jobs pair up to 6 rows; the 20-row job exceeds the maximum and runs alone
        List<Integer> sizes = batches(7);
        assertThat(sizes.subList(1, sizes.size())).containsExactlyInAnyOrder(6, 6, 6, 6, 3, 20);
    }

    @Test
    void aFullQueueRefusesAtOnceAndEveryAcceptedJobIsAnsweredOnce() throws Exception {
        batcher(4, Duration.ZERO, 3, Duration.ofSeconds(10));
        CompletableFuture<List<Tensor>> first = occupyWorker();
        List<CompletableFuture<List<Tensor>>> accepted = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            accepted.add(batcher.submit(job(1, i)));
        }

        assertThatThrownBy(() -> batcher.submit(job(1, 9))).isInstanceOf(ServerBusyException.class)
                .hasMessageContaining("3 requests queued")
                .satisfies(e -> assertThat(((ServerBusyException) e).retryAfter()).isPositive());
        gate.countDown();
        first.get(5, TimeUnit.SECONDS);
        for (CompletableFuture<List<Tensor>> f : accepted) {
            assertThat(f.get(5, TimeUnit.SECONDS)).hasSize(1);
        }
        assertThat(rejected).hasValue(1);
        assertThat(executed).hasSize(4).doesNotHaveDuplicates();
    }

    @Test
    void aJobWhoseTimeoutExpiresInTheQueueIsAnsweredAndNeverRun() throws Exception {
        batcher(4, Duration.ZERO, 10, Duration.ofMillis(50));
        CompletableFuture<List<Tensor>> first = occupyWorker();
        TensorJob late = job(1, 5);
        CompletableFuture<List<Tensor>> future = batcher.submit(late);

        assertThatThrownBy(() -> future.get(5, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                .cause().isInstanceOf(ServerBusyException.class).hasMessageContaining("timed out after 50 ms");
        gate.countDown();
        first.get(5, TimeUnit.SECONDS);
        batcher.submit(job(1, 1)).get(5, TimeUnit.SECONDS);
        assertThat(executed).doesNotContain(late);
        assertThat(timedOut).hasValue(1);
    }

    @Test
    void higherPriorityLevelsLeaveTheQueueFirstAndEachLevelKeepsItsOrder() throws Exception {
        // one row per run, so the run order is the queue order
        batcher(1, Duration.ZERO, 10, Duration.ofSeconds(10));
        CompletableFuture<List<Tensor>> first = occupyWorker();
        TensorJob bulkA = job(1, 1);
        TensorJob bulkB = job(1, 2);
        TensorJob urgent = job(1, 3);
        TensorJob plain = job(1, 4);
        TensorJob middle = job(1, 5);
        List<CompletableFuture<List<Tensor>>> answers = List.of(
                batcher.submit(bulkA.schedule(new Scheduling(3, null))), batcher.submit(bulkB.schedule(new Scheduling(3, null))),
                batcher.submit(urgent.schedule(new Scheduling(1, null))), batcher.submit(plain),
                batcher.submit(middle.schedule(new Scheduling(2, null))));

        gate.countDown();
        first.get(5, TimeUnit.SECONDS);
        for (CompletableFuture<List<Tensor>> a : answers) {
            a.get(5, TimeUnit.SECONDS);
        }

        // the default level is 1: after the level-1 job queued before it
        assertThat(executed.subList(1, executed.size())).containsExactly(urgent, plain, middle, bulkA, bulkB);
    }

    @Test
    void priorityOneIsAdmittedWhileLevelThreeFillsTheQueue() throws Exception {
        batcher(1, Duration.ZERO, 4, Duration.ofSeconds(10));
        CompletableFuture<List<Tensor>> first = occupyWorker();
        List<CompletableFuture<List<Tensor>>> bulk = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            bulk.add(batcher.submit(job(1, i).schedule(new Scheduling(3, null))));
        }

        // level 3 is full: a fifth level-3 job is refused...
        assertThatThrownBy(() -> batcher.submit(job(1, 9).schedule(new Scheduling(3, null)))).isInstanceOf(ServerBusyException.class)
                .hasMessageContaining("4 requests queued");
        // ...but a level-1 job waits behind none of them: admitted, and runs first
        TensorJob urgent = job(1, 10);
        CompletableFuture<List<Tensor>> answer = batcher.submit(urgent.schedule(new Scheduling(1, null)));
        gate.countDown();
        first.get(5, TimeUnit.SECONDS);
        answer.get(5, TimeUnit.SECONDS);
        for (CompletableFuture<List<Tensor>> b : bulk) {
            b.get(5, TimeUnit.SECONDS);
        }
        assertThat(executed.get(1)).isSameAs(urgent);
    }

    @Test
    void theWholeQueueIsBoundedWhateverTheLevels() throws Exception {
        batcher(1, Duration.ZERO, 2, Duration.ofSeconds(10));
        CompletableFuture<List<Tensor>> first = occupyWorker();
        // every level fills from the lowest up: each is admitted until the queue holds four capacities
        int admitted = 0;
        for (long level = 20; level >= 1; level--) {
            for (int i = 0; i < 2; i++) {
                try {
                    batcher.submit(job(1, i).schedule(new Scheduling(level, null)));
                    admitted++;
                } catch (ServerBusyException refused) {
                    assertThat(refused).hasMessageContaining("8 requests queued");
                }
            }
        }
        assertThat(admitted).isEqualTo(8);
        assertThat(batcher.queueDepth()).isEqualTo(8);
        gate.countDown();
        first.get(5, TimeUnit.SECONDS);
    }

    @Test
    void aLowerLevelThatWaitedLongerThanItsAgingGoesBeforeNewerHigherLevels() throws Exception {
        batcher(new BatchingSettings(1, 0, Duration.ZERO, 10, Duration.ofSeconds(10), Duration.ZERO, Duration.ofMillis(100)));
        CompletableFuture<List<Tensor>> first = occupyWorker();
        TensorJob patient = job(1, 1);
        CompletableFuture<List<Tensor>> a = batcher.submit(patient.schedule(new Scheduling(2, null)));
        long queued = System.nanoTime();
        // time itself is what is aged: wait until the level-2 job has queued longer than one level is worth
        await().atMost(Duration.ofSeconds(5)).until(() -> System.nanoTime() - queued > Duration.ofMillis(150).toNanos());
        TensorJob newer = job(1, 2);
        CompletableFuture<List<Tensor>> b = batcher.submit(newer.schedule(new Scheduling(1, null)));
        TensorJob fresh = job(1, 3);
        CompletableFuture<List<Tensor>> c = batcher.submit(fresh.schedule(new Scheduling(2, null)));

        gate.countDown();
        first.get(5, TimeUnit.SECONDS);
        for (CompletableFuture<List<Tensor>> f : List.of(a, b, c)) {
            f.get(5, TimeUnit.SECONDS);
        }

        // the aged level-2 job first; a level-2 job that came with the level-1 one stays behind it
        assertThat(executed.subList(1, executed.size())).containsExactly(patient, newer, fresh);
    }

    @Test
    void aRequestsOwnShorterTimeoutExpiresItInTheQueue() throws Exception {
        batcher(4, Duration.ZERO, 10, Duration.ofSeconds(10));
        CompletableFuture<List<Tensor>> first = occupyWorker();
        TensorJob hurried = job(1, 5);
        CompletableFuture<List<Tensor>> future = batcher.submit(hurried.schedule(new Scheduling(0, Duration.ofMillis(50))));

        assertThatThrownBy(() -> future.get(5, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                .cause().isInstanceOf(ServerBusyException.class).hasMessageContaining("timed out after 50 ms");
        gate.countDown();
        first.get(5, TimeUnit.SECONDS);
        assertThat(executed).doesNotContain(hurried);
    }

    @Test
    void aCancelledJobLeavesTheQueueAndIsNeverRun() throws Exception {
        batcher(4, Duration.ZERO, 10, Duration.ofSeconds(10));
        CompletableFuture<List<Tensor>> first = occupyWorker();
        TensorJob gone = job(1, 5);
        CompletableFuture<List<Tensor>> future = batcher.submit(gone);

        future.cancel(true);
        assertThat(batcher.queueDepth()).isZero();
        gate.countDown();
        first.get(5, TimeUnit.SECONDS);
        batcher.submit(job(1, 1)).get(5, TimeUnit.SECONDS);

        assertThat(executed).doesNotContain(gone);
        assertThat(cancelled).hasValue(1);
    }

    @Test
    void aLoneRequestIsSentAtOnceEvenWithALongMaxLatency() throws Exception {
        batcher(32, Duration.ofSeconds(10), 10, Duration.ofSeconds(30));

        // with no concurrent load the worker does not wait the 10 s for companions
        assertThat(batcher.submit(job(1, 1)).get(5, TimeUnit.SECONDS)).hasSize(1);
        assertThat(batches(1)).containsExactly(1);
    }

    @Test
    void aFullBatchGoesWithoutWaitingForMaxLatency() throws Exception {
        batcher(4, Duration.ofSeconds(10), 10, Duration.ofSeconds(30));
        CompletableFuture<List<Tensor>> first = occupyWorker();
        List<CompletableFuture<List<Tensor>>> futures = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            futures.add(batcher.submit(job(1, i)));
        }

        gate.countDown();

        first.get(5, TimeUnit.SECONDS);
        for (CompletableFuture<List<Tensor>> f : futures) {
            f.get(5, TimeUnit.SECONDS);
        }
        assertThat(batches(2)).containsExactly(1, 4);
    }

    @Test
    void manyConcurrentCallersAllGetTheirOwnAnswers() throws Exception {
        batcher(16, Duration.ofMillis(2), 1000, Duration.ofSeconds(30));
        ExecutorService callers = Executors.newFixedThreadPool(8);
        try {
            List<TensorJob> jobs = Collections.synchronizedList(new ArrayList<>());
            List<CompletableFuture<List<Tensor>>> futures = Collections.synchronizedList(new ArrayList<>());
            List<java.util.concurrent.Future<?>> submitted = new ArrayList<>();
            for (int c = 0; c < 8; c++) {
                int caller = c;
                submitted.add(callers.submit(() -> {
                    for (int i = 0; i < 50; i++) {
                        TensorJob j = job(1 + i % 2, caller * 1000 + i);
                        synchronized (jobs) {
                            jobs.add(j);
                            futures.add(batcher.submit(j));
                        }
                    }
                }));
            }
            for (java.util.concurrent.Future<?> f : submitted) {
                f.get(10, TimeUnit.SECONDS);
            }
            for (int i = 0; i < jobs.size(); i++) {
                assertThat(futures.get(i).get(10, TimeUnit.SECONDS).get(0).floats()).containsExactly(alone(jobs.get(i)));
            }
            assertThat(executed).hasSize(400).doesNotHaveDuplicates();
            int total = jobs.stream().mapToInt(TensorJob::rows).sum();
            await().atMost(Duration.ofSeconds(5)).until(() -> batchRows.stream().mapToInt(Integer::intValue).sum() >= total);
            assertThat(batchRows.stream().mapToInt(Integer::intValue).sum()).isEqualTo(total);
        } finally {
            callers.shutdownNow();
        }
    }

    @Test
    void closingAnswersQueuedJobsAndRefusesNewOnes() throws Exception {
        batcher(4, Duration.ZERO, 10, Duration.ofSeconds(30));
        CompletableFuture<List<Tensor>> first = occupyWorker();
        CompletableFuture<List<Tensor>> queued = batcher.submit(job(1, 1));

        Thread closer = new Thread(batcher::close);
        closer.start();
        assertThatThrownBy(() -> queued.get(5, TimeUnit.SECONDS)).cause().isInstanceOf(ModelNotReadyException.class);
        gate.countDown();
        closer.join(10_000);

        assertThat(first.get(5, TimeUnit.SECONDS)).hasSize(1);
        assertThatThrownBy(() -> batcher.submit(job(1, 1))).isInstanceOf(ModelNotReadyException.class);
    }

    /** Runs {@code then} once {@code hold} opens, after telling {@code holding} that a run has started. */
    static BatchExecutor<BatchJob<?>> heldUntil(CountDownLatch holding, CountDownLatch hold, BatchExecutor<BatchJob<?>> then) {
        return (batch, where) -> {
            holding.countDown();
            try {
                hold.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            then.execute(batch, where);
        };
    }

    @Test
    void batchersSharingADeviceGateNeverRunAtOnceAndWhatQueuesMeanwhileGoesAsOneBatch() throws Exception {
        // given: two batchers (two versions of a model) behind one gate, the first held in a run
        DeviceGate device = new DeviceGate(1);
        AtomicInteger inFlight = new AtomicInteger();
        AtomicInteger mostInFlight = new AtomicInteger();
        List<Integer> otherRows = new CopyOnWriteArrayList<>();
        OnnxBatchExecutor onnx = new OnnxBatchExecutor(model, "y", 0);
        CountDownLatch hold = new CountDownLatch(1);
        CountDownLatch holding = new CountDownLatch(1);
        BatchExecutor<BatchJob<?>> holdingRun = heldUntil(holding, hold, onnx);
        BatchExecutor<BatchJob<?>> held = (batch, where) -> {
            mostInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
            holdingRun.execute(batch, where);
            inFlight.decrementAndGet();
        };
        BatchExecutor<BatchJob<?>> counted = (batch, where) -> {
            mostInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
            otherRows.add(batch.stream().mapToInt(BatchJob::rows).sum());
            onnx.execute(batch, where);
            inFlight.decrementAndGet();
        };
        BatchingSettings settings = new BatchingSettings(32, Duration.ZERO, 100, Duration.ofSeconds(10));
        DynamicBatcher<BatchJob<?>> stable = new DynamicBatcher<>("stable", settings, held, BatchListener.NONE, device, 1);
        DynamicBatcher<BatchJob<?>> canary = new DynamicBatcher<>("canary", settings, counted, BatchListener.NONE, device, 1);
        try {
            CompletableFuture<List<Tensor>> first = stable.submit(job(1, 0));
            assertThat(holding.await(5, TimeUnit.SECONDS)).isTrue();
            // when: the other version gets jobs while the device is busy
            List<CompletableFuture<List<Tensor>>> waiting = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                waiting.add(canary.submit(job(1, i)));
            }
            await().atMost(Duration.ofSeconds(5)).until(() -> device.queuedWaiters() == 1);
            assertThat(otherRows).as("nothing runs while the device is held").isEmpty();
            hold.countDown();
            // then: they run after it, together, and every caller gets its own answer
            first.get(5, TimeUnit.SECONDS);
            for (int i = 0; i < waiting.size(); i++) {
                assertThat(waiting.get(i).get(5, TimeUnit.SECONDS).get(0).floats()).containsExactly(alone(job(1, i)));
            }
            assertThat(otherRows).containsExactly(5);
            assertThat(mostInFlight.get()).isEqualTo(1);
        } finally {
            hold.countDown();
            stable.close();
            canary.close();
        }
    }

    @Test
    void aBatcherWaitingForTheDeviceClosesWithoutWaitingItsTurn() throws Exception {
        // given: one version holds the device; the other has a job waiting for it
        DeviceGate device = new DeviceGate(1);
        CountDownLatch hold = new CountDownLatch(1);
        CountDownLatch holding = new CountDownLatch(1);
        OnnxBatchExecutor onnx = new OnnxBatchExecutor(model, "y", 0);
        BatchExecutor<BatchJob<?>> held = heldUntil(holding, hold, onnx);
        BatchingSettings settings = new BatchingSettings(32, Duration.ZERO, 100, Duration.ofSeconds(10));
        DynamicBatcher<BatchJob<?>> stable = new DynamicBatcher<>("stable", settings, held, BatchListener.NONE, device, 1);
        DynamicBatcher<BatchJob<?>> canary = new DynamicBatcher<>("canary", settings, onnx, BatchListener.NONE, device, 1);
        try {
            stable.submit(job(1, 0));
            assertThat(holding.await(5, TimeUnit.SECONDS)).isTrue();
            CompletableFuture<List<Tensor>> waiting = canary.submit(job(1, 1));
            await().atMost(Duration.ofSeconds(5)).until(() -> device.queuedWaiters() == 1);
            // when
            CompletableFuture<Void> closed = CompletableFuture.runAsync(canary::close);
            // then: the close does not wait for the other version's run, and the waiting job is answered
            closed.get(5, TimeUnit.SECONDS);
            assertThatThrownBy(() -> waiting.get(5, TimeUnit.SECONDS)).hasCauseInstanceOf(ModelNotReadyException.class);
        } finally {
            hold.countDown();
            stable.close();
            canary.close();
        }
    }

    @Test
    void aBatcherWaitingForTheDeviceKeepsItsTurnAheadOfLaterArrivals() throws Exception {
        // given: the device held by one run; version A starts waiting for it, then version B
        DeviceGate device = new DeviceGate(1);
        List<String> order = new CopyOnWriteArrayList<>();
        OnnxBatchExecutor onnx = new OnnxBatchExecutor(model, "y", 0);
        BatchExecutor<BatchJob<?>> a = (batch, where) -> {
            order.add("a");
            onnx.execute(batch, where);
        };
        BatchExecutor<BatchJob<?>> b = (batch, where) -> {
            order.add("b");
            onnx.execute(batch, where);
        };
        BatchingSettings settings = new BatchingSettings(32, Duration.ZERO, 100, Duration.ofSeconds(30));
        DynamicBatcher<BatchJob<?>> first = new DynamicBatcher<>("a", settings, a, BatchListener.NONE, device, 1);
        DynamicBatcher<BatchJob<?>> second = new DynamicBatcher<>("b", settings, b, BatchListener.NONE, device, 1);
        try (DeviceGate.Permit held = device.tryAcquire(1, 1, TimeUnit.SECONDS)) {
            CompletableFuture<List<Tensor>> early = first.submit(job(1, 1));
            await().atMost(Duration.ofSeconds(5)).until(() -> device.queuedWaiters() == 1);
            CompletableFuture<List<Tensor>> late = second.submit(job(1, 2));
            await().atMost(Duration.ofSeconds(5)).until(() -> device.queuedWaiters() == 2);
            // however long the device stays held, the queue keeps both in arrival order
            assertThat(early).isNotDone();
            assertThat(late).isNotDone();
            held.close();
            // then: the one that waited first runs first
            early.get(5, TimeUnit.SECONDS);
            late.get(5, TimeUnit.SECONDS);
            assertThat(order).containsExactly("a", "b");
        } finally {
            first.close();
            second.close();
        }
    }

    @Test
    void pastMaxQueueWaitARequestIsRefusedAtOnceWithRetryAfter() throws Exception {
        // given: a version whose speed was measured, then held in a run with one job queued behind it
        batcher(new BatchingSettings(4, 0, Duration.ZERO, 100, Duration.ofSeconds(30), Duration.ofNanos(1)));
        for (int i = 0; i < 8; i++) {
            batcher.submit(job(1, i)).get(5, TimeUnit.SECONDS);
        }
        assertThat(batcher.expectedQueueWait()).isZero();
        CompletableFuture<List<Tensor>> first = occupyWorker();
        // (the first-run latch already opened above: wait for the held run to take its job)
        await().atMost(Duration.ofSeconds(5)).until(() -> batcher.queueDepth() == 0);
        CompletableFuture<List<Tensor>> queued = batcher.submit(job(2, 1));
        assertThat(batcher.expectedQueueWait()).isPositive();

        // when / then: the next one would wait past max-queue-wait, so it is refused, not queued
        assertThatThrownBy(() -> batcher.submit(job(1, 2))).isInstanceOf(ServerBusyException.class)
                .hasMessageContaining("max-queue-wait")
                .satisfies(e -> assertThat(((ServerBusyException) e).retryAfter()).isGreaterThanOrEqualTo(Duration.ofSeconds(1)));
        assertThat(rejected).hasValue(1);
        gate.countDown();
        first.get(5, TimeUnit.SECONDS);
        assertThat(queued.get(5, TimeUnit.SECONDS).get(0).floats()).containsExactly(alone(job(2, 1)));
    }
}
