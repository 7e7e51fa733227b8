package dev.igate.predictor.batching;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import dev.igate.predictor.InstanceLayout;
import dev.igate.predictor.ModelInstances;
import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.OnnxModelTests;
import dev.igate.predictor.SessionSettings;
import dev.igate.protocol.ModelNotReadyException;
import dev.igate.protocol.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The batcher as an instance scheduler: one worker per instance over a real ONNX Runtime model
 * (the tiny linear model), runs that really overlap, the solo session for a lone request, the
 * device gate's share, explanation pieces taking turns with predictions, and close while running.
 */
class InstanceSchedulingTests {

    static ModelInstances sessions;
    final List<DynamicBatcher<BatchJob<?>>> batchers = new ArrayList<>();
    final List<Placement> placements = new CopyOnWriteArrayList<>();
    final List<Integer> batchRows = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void open() throws Exception {
        byte[] linear = OnnxModelTests.linearModel();
        sessions = ModelInstances.open(new InstanceLayout(2, 1, 2, true), new SessionSettings("cpu", 1, 1, "all"),
                s -> OnnxModel.load(linear, s, "linear"));
    }

    @AfterAll
    static void close() {
        sessions.close();
    }

    @AfterEach
    void stop() {
        batchers.forEach(DynamicBatcher::close);
    }

    /** The linear model's executor, reporting where each batch ran, behind {@code before} (called at the start of every run). */
    DynamicBatcher<BatchJob<?>> batcher(String name, BatchingSettings settings, DeviceGate gate, Runnable before) {
        OnnxBatchExecutor onnx = new OnnxBatchExecutor(sessions, "y", 0);
        BatchExecutor<BatchJob<?>> executor = new BatchExecutor<>() {
            @Override
            public void execute(List<BatchJob<?>> batch, Placement placement) {
                before.run();
                onnx.execute(batch, placement);
            }

            @Override
            public int instances() {
                return onnx.instances();
            }

            @Override
            public boolean canRunSolo(BatchJob<?> first) {
                return onnx.canRunSolo(first);
            }
        };
        BatchListener listener = new BatchListener() {
            @Override
            public void executed(int jobs, int rows, long runNanos, Placement placement) {
                placements.add(placement);
                batchRows.add(rows);
            }
        };
        DynamicBatcher<BatchJob<?>> b = new DynamicBatcher<>(name, settings, executor, listener, gate, 1);
        batchers.add(b);
        return b;
    }

    static BatchingSettings settings(int maxBatch) {
        return new BatchingSettings(maxBatch, Duration.ZERO, 100, Duration.ofSeconds(30));
    }

    static float[] alone(TensorJob job) {
        return sessions.first().run(job.inputs(), job.outputs()).get(0).floats();
    }

    /** Waits for the latch, at most 10 s: a test that fails must not hang the build. */
    static void hold(CountDownLatch latch) {
        try {
            latch.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void twoInstancesRunTwoBatchesAtOnce() throws Exception {
        // given: every run waits until two runs are in flight
        CountDownLatch bothRunning = new CountDownLatch(2);
        DeviceGate device = new DeviceGate(2);
        DynamicBatcher<BatchJob<?>> batcher = batcher("v1", settings(1), device, () -> {
            bothRunning.countDown();
            hold(bothRunning);
        });

        // when: two one-row requests queue while the device is busy (max-batch-size 1: they cannot share a run)
        CompletableFuture<List<Tensor>> a;
        CompletableFuture<List<Tensor>> b;
        try (DeviceGate.Permit busy = device.tryAcquire(2, 1, TimeUnit.SECONDS)) {
            a = batcher.submit(DynamicBatcherTests.job(1, 1));
            b = batcher.submit(DynamicBatcherTests.job(1, 2));
        }

        // then: both complete, which they can only do if their runs overlapped, on the two instances
        assertThat(a.get(10, TimeUnit.SECONDS).get(0).floats()).containsExactly(alone(DynamicBatcherTests.job(1, 1)));
        assertThat(b.get(10, TimeUnit.SECONDS)).hasSize(1);
        await().atMost(Duration.ofSeconds(5)).until(() -> placements.size() == 2);
        assertThat(placements).containsExactlyInAnyOrder(new Placement(0), new Placement(1));
        assertThat(device.peakRunsInFlight()).isEqualTo(2);
    }

    @Test
    void aLoneRequestOnAnIdleDeviceRunsOnTheSoloSession() throws Exception {
        DynamicBatcher<BatchJob<?>> batcher = batcher("v1", settings(32), new DeviceGate(2), () -> { });

        Tensor y = batcher.submit(DynamicBatcherTests.job(3, 5)).get(10, TimeUnit.SECONDS).get(0);

        assertThat(y.floats()).containsExactly(alone(DynamicBatcherTests.job(3, 5)));
        await().atMost(Duration.ofSeconds(5)).until(() -> placements.size() == 1);
        assertThat(placements).containsExactly(Placement.SOLO);
    }

    @Test
    void aLoneRequestWhileTheDeviceIsPartlyBusyRunsOnAnInstance() throws Exception {
        // given: another version's run holds one of the device's two units
        DeviceGate device = new DeviceGate(2);
        DynamicBatcher<BatchJob<?>> batcher = batcher("v1", settings(32), device, () -> { });
        try (DeviceGate.Permit other = device.tryAcquire(1, 1, TimeUnit.SECONDS)) {
            // when
            List<Tensor> y = batcher.submit(DynamicBatcherTests.job(1, 2)).get(10, TimeUnit.SECONDS);

            // then: it ran beside the other run on an instance, not on the solo session that would need the whole device
            assertThat(y).hasSize(1);
            await().atMost(Duration.ofSeconds(5)).until(() -> placements.size() == 1);
            assertThat(placements.get(0).solo()).isFalse();
        }
        assertThat(device.available()).isEqualTo(2);
    }

    @Test
    void runsOfEveryVersionOnADeviceNeverHoldMoreThanItsCapacity() throws Exception {
        // given: two versions with two instances each behind a gate of two units (two cores)
        DeviceGate device = new DeviceGate(2);
        AtomicInteger inFlight = new AtomicInteger();
        AtomicInteger most = new AtomicInteger();
        Runnable counted = () -> {
            most.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            inFlight.decrementAndGet();
        };
        DynamicBatcher<BatchJob<?>> stable = batcher("stable", settings(1), device, counted);
        DynamicBatcher<BatchJob<?>> canary = batcher("canary", settings(1), device, counted);

        // when: both get a burst
        List<CompletableFuture<List<Tensor>>> all = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            all.add((i % 2 == 0 ? stable : canary).submit(DynamicBatcherTests.job(1, i)));
        }
        for (CompletableFuture<List<Tensor>> f : all) {
            f.get(10, TimeUnit.SECONDS);
        }

        // then: never more than two runs at once, and two did overlap
        assertThat(most.get()).isEqualTo(2);
        assertThat(device.peakRunsInFlight()).isLessThanOrEqualTo(2);
    }

    @Test
    void aBusyVersionDoesNotStarveAnotherOnTheSameDevice() throws Exception {
        // given: one run at a time, and twenty one-row requests of version A queued before version B's one
        DeviceGate device = new DeviceGate(1);
        List<String> runs = new CopyOnWriteArrayList<>();
        DynamicBatcher<BatchJob<?>> a = batcher("a", settings(1), device, () -> runs.add("a"));
        DynamicBatcher<BatchJob<?>> b = batcher("b", settings(1), device, () -> runs.add("b"));
        List<CompletableFuture<List<Tensor>>> all = new ArrayList<>();
        CompletableFuture<List<Tensor>> lone;
        try (DeviceGate.Permit held = device.tryAcquire(1, 1, TimeUnit.SECONDS)) {
            for (int i = 0; i < 20; i++) {
                all.add(a.submit(DynamicBatcherTests.job(1, i)));
            }
            lone = b.submit(DynamicBatcherTests.job(1, 99));
            // every worker of both versions (two each) is waiting for the device before it frees up
            await().atMost(Duration.ofSeconds(5)).until(() -> device.queuedWaiters() == 4);
        }

        // when the device frees up
        lone.get(10, TimeUnit.SECONDS);
        for (CompletableFuture<List<Tensor>> f : all) {
            f.get(10, TimeUnit.SECONDS);
        }

        // then: B's request ran after at most one run per worker of A already waiting (two instances), not after A's twenty
        assertThat(runs.indexOf("b")).isBetween(0, 2);
        assertThat(runs).hasSize(21);
    }

    @Test
    void queuedRowsAreSharedBetweenFreeInstances() throws Exception {
        // given: runs that last until two are in flight, and the device held by someone else while eight one-row requests queue
        DeviceGate device = new DeviceGate(2);
        CountDownLatch bothRunning = new CountDownLatch(2);
        DynamicBatcher<BatchJob<?>> batcher = batcher("v1", settings(32), device, () -> {
            bothRunning.countDown();
            hold(bothRunning);
        });
        List<CompletableFuture<List<Tensor>>> all = new ArrayList<>();
        try (DeviceGate.Permit held = device.tryAcquire(2, 1, TimeUnit.SECONDS)) {
            for (int i = 0; i < 8; i++) {
                all.add(batcher.submit(DynamicBatcherTests.job(1, i)));
            }
        }

        // when the device frees up, then: two runs of four, one per instance
        for (CompletableFuture<List<Tensor>> f : all) {
            f.get(10, TimeUnit.SECONDS);
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> batchRows.stream().mapToInt(Integer::intValue).sum() == 8);
        assertThat(batchRows).containsExactly(4, 4);
        assertThat(placements).containsExactlyInAnyOrder(new Placement(0), new Placement(1));
    }

    @Test
    void maxBatchTokensCapsTheRowsOfLongTexts() throws Exception {
        // given: at most 512 padded tokens per run, one instance, and eight 100-token texts queued while the device is held
        DeviceGate device = new DeviceGate(1);
        BatchExecutor<BatchJob<?>> answering = (batch, where) -> {
            batchRows.add(batch.stream().mapToInt(BatchJob::rows).sum());
            batch.forEach(j -> ((TokenJob) j).future().complete(Tensor.ofFloats("logits", new long[] {j.rows(), 1}, new float[j.rows()])));
        };
        DynamicBatcher<BatchJob<?>> batcher = new DynamicBatcher<>("tokens", new BatchingSettings(32, 512, Duration.ZERO, 100,
                Duration.ofSeconds(30)), answering, BatchListener.NONE, device, 1);
        batchers.add(batcher);
        List<CompletableFuture<Tensor>> all = new ArrayList<>();
        try (DeviceGate.Permit held = device.tryAcquire(1, 1, TimeUnit.SECONDS)) {
            for (int i = 0; i < 8; i++) {
                long[][] row = {new long[100]};
                all.add(batcher.submit(tokenRows(row, row, row, 0)));
            }
        }

        // when the device frees up
        for (CompletableFuture<Tensor> f : all) {
            f.get(10, TimeUnit.SECONDS);
        }

        // then: five rows (500 tokens) per run, not the 32 rows max-batch-size allows
        assertThat(batchRows).containsExactly(5, 3);
    }

    @Test
    void tokenRowsSentAsTensorsCountTheirTokensToo() throws Exception {
        // given: 512 tokens per run, and four requests of 4 x 100 token ids queued while the device is held
        DeviceGate device = new DeviceGate(1);
        BatchExecutor<BatchJob<?>> answering = (batch, where) -> {
            batchRows.add(batch.stream().mapToInt(BatchJob::rows).sum());
            batch.forEach(j -> ((TensorJob) j).future().complete(List.of()));
        };
        DynamicBatcher<BatchJob<?>> batcher = new DynamicBatcher<>("tensors", new BatchingSettings(32, 512, Duration.ZERO, 100,
                Duration.ofSeconds(30)), answering, BatchListener.NONE, device, 1);
        batchers.add(batcher);
        List<CompletableFuture<List<Tensor>>> all = new ArrayList<>();
        try (DeviceGate.Permit held = device.tryAcquire(1, 1, TimeUnit.SECONDS)) {
            for (int i = 0; i < 4; i++) {
                long[] shape = {4, 100};
                all.add(batcher.submit(new TensorJob(List.of(Tensor.ofLongs(TensorJob.TOKEN_INPUT, shape, new long[400]),
                        Tensor.ofLongs("attention_mask", shape, new long[400])), List.of("logits"), true)));
            }
        }

        for (CompletableFuture<List<Tensor>> f : all) {
            f.get(10, TimeUnit.SECONDS);
        }

        // then: one request (400 tokens) per run: two would be 800
        assertThat(batchRows).containsExactly(4, 4, 4, 4);
    }

    @Test
    void aJobThatFailsItsBatchFailsAloneAndTheOthersGetTheirAnswers() throws Exception {
        // given: an embedding model that ONNX Runtime refuses to run on an id past its table, six good jobs and a bad one
        try (OnnxModel embedding = OnnxModel.load(dev.igate.predictor.TokenVocabularyTests.embeddingModel(false).toByteArray(),
                new SessionSettings("cpu", 1, 1, "all"), "embedding")) {
            DeviceGate device = new DeviceGate(1);
            DynamicBatcher<BatchJob<?>> batcher = new DynamicBatcher<>("embedding", settings(32),
                    new OnnxBatchExecutor(embedding, "logits", 0), BatchListener.NONE, device, 1);
            batchers.add(batcher);
            List<CompletableFuture<Tensor>> good = new ArrayList<>();
            CompletableFuture<Tensor> bad;
            try (DeviceGate.Permit held = device.tryAcquire(1, 1, TimeUnit.SECONDS)) {
                for (int i = 0; i < 3; i++) {
                    good.add(batcher.submit(tokens(1, 2 + i, 3)));
                }
                bad = batcher.submit(tokens(1, 99_999, 3));
                for (int i = 0; i < 3; i++) {
                    good.add(batcher.submit(tokens(7, 8, 9 + i)));
                }
            }

            // then: only the bad job fails; each good one gets what it gets alone
            assertThatThrownBy(() -> bad.get(10, TimeUnit.SECONDS)).hasCauseInstanceOf(dev.igate.protocol.InferenceFailedException.class);
            for (CompletableFuture<Tensor> f : good) {
                assertThat(f.get(10, TimeUnit.SECONDS).shape()).containsExactly(1, 2);
            }
            // ids 1, 2, 3 sum the table's rows (0.02 i, 0.02 i + 0.01)
            assertThat(good.get(0).get().floats()).containsExactly(new float[] {0.12f, 0.15f}, org.assertj.core.data.Offset.offset(1e-6f));
        }
    }

    static TokenJob tokens(long... ids) {
        long[][] row = {ids};
        long[][] ones = {new long[ids.length]};
        java.util.Arrays.fill(ones[0], 1);
        return tokenRows(row, ones, new long[][] {new long[ids.length]}, 0);
    }

    @Test
    void explanationPiecesAndPredictionsTakeTurnsInArrivalOrder() throws Exception {
        // given: the device held while pieces and predictions queue, interleaved
        DeviceGate device = new DeviceGate(1);
        DynamicBatcher<BatchJob<?>> batcher = batcher("v1", settings(1), device, () -> { });
        List<String> order = new CopyOnWriteArrayList<>();
        List<CompletableFuture<?>> all = new ArrayList<>();
        try (DeviceGate.Permit held = device.tryAcquire(1, 1, TimeUnit.SECONDS)) {
            for (int i = 0; i < 6; i++) {
                int n = i;
                all.add(batcher.submit(new InstanceJob<>(4, at -> {
                    order.add(at.solo() ? "piece" + n + " on the solo session" : "piece" + n);
                    return sessions.instance(at.instance()).run(DynamicBatcherTests.job(4, n).inputs(), List.of("y"));
                })));
                TensorJob prediction = DynamicBatcherTests.job(1, n);
                all.add(batcher.submit(prediction).thenRun(() -> order.add("prediction" + n)));
            }
        }

        // when the device frees up
        for (CompletableFuture<?> f : all) {
            f.get(10, TimeUnit.SECONDS);
        }

        // then: with one run at a time, neither kind overtakes the other: they alternate as they arrived
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            expected.add("piece" + i);
            expected.add("prediction" + i);
        }
        assertThat(order).containsExactlyElementsOf(expected);
    }

    @Test
    void closeWhileRunningWaitsForTheRunsAndAnswersWhatIsQueued() throws Exception {
        // given: both instances held in a run, and a request queued behind them
        CountDownLatch hold = new CountDownLatch(1);
        CountDownLatch holding = new CountDownLatch(2);
        DeviceGate device = new DeviceGate(2);
        DynamicBatcher<BatchJob<?>> batcher = batcher("v1", settings(1), device, () -> {
            holding.countDown();
            hold(hold);
        });
        CompletableFuture<List<Tensor>> a;
        CompletableFuture<List<Tensor>> b;
        try (DeviceGate.Permit part = device.tryAcquire(1, 1, TimeUnit.SECONDS)) {
            a = batcher.submit(DynamicBatcherTests.job(1, 1));
            b = batcher.submit(DynamicBatcherTests.job(1, 2));
            await().atMost(Duration.ofSeconds(5)).until(() -> holding.getCount() == 1);
        }
        assertThat(holding.await(10, TimeUnit.SECONDS)).isTrue();
        CompletableFuture<List<Tensor>> queued = batcher.submit(DynamicBatcherTests.job(1, 3));

        // when
        CompletableFuture<Void> closed = CompletableFuture.runAsync(batcher::close);

        // then: the queued request is answered at once, the close waits for the runs, which complete
        assertThatThrownBy(() -> queued.get(10, TimeUnit.SECONDS)).hasCauseInstanceOf(ModelNotReadyException.class);
        assertThat(closed).isNotDone();
        hold.countDown();
        closed.get(10, TimeUnit.SECONDS);
        assertThat(a.get(1, TimeUnit.SECONDS)).hasSize(1);
        assertThat(b.get(1, TimeUnit.SECONDS)).hasSize(1);
        assertThat(device.runsInFlight()).isZero();
    }

    @Test
    void aCompletedJobsTimeoutIsCancelledAtOnce() throws Exception {
        DynamicBatcher<BatchJob<?>> batcher = batcher("v1", settings(32), new DeviceGate(2), () -> { });
        TensorJob job = DynamicBatcherTests.job(1, 1);

        batcher.submit(job).get(10, TimeUnit.SECONDS);

        await().atMost(Duration.ofSeconds(5)).until(() -> job.timeout != null && job.timeout.isCancelled());
    }

    /** Rows of their own lengths, padded here with {@code padId} (mask and type 0). */
    static TokenJob tokenRows(long[][] ids, long[][] mask, long[][] types, long padId) {
        int length = 0;
        for (long[] r : ids) {
            length = Math.max(length, r.length);
        }
        int rows = ids.length;
        long[] flatIds = new long[rows * length];
        long[] flatMask = new long[rows * length];
        long[] flatTypes = new long[rows * length];
        java.util.Arrays.fill(flatIds, padId);
        for (int r = 0; r < rows; r++) {
            System.arraycopy(ids[r], 0, flatIds, r * length, ids[r].length);
            System.arraycopy(mask[r], 0, flatMask, r * length, mask[r].length);
            System.arraycopy(types[r], 0, flatTypes, r * length, types[r].length);
        }
        return new TokenJob(rows, length, flatIds, flatMask, flatTypes);
    }
}
