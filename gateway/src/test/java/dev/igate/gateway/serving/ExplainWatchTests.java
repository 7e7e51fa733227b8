package dev.igate.gateway.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicInteger;

import dev.igate.predictor.batching.InstanceJob;
import dev.igate.predictor.batching.InstanceScheduler;
import dev.igate.protocol.ServerBusyException;
import org.junit.jupiter.api.Test;

class ExplainWatchTests {

    @Test
    void piecesGoThroughUntilTheClientLeavesThenTheNextOneIsRefused() {
        AtomicInteger cancelled = new AtomicInteger();
        ExplainService.Watch watch = new ExplainService.Watch(Long.MAX_VALUE, cancelled::incrementAndGet, () -> { },
                dev.igate.gateway.tracing.RequestTrace.NONE);
        InstanceScheduler via = watch.around(InstanceScheduler.CALLER_THREAD, Duration.ofSeconds(60));

        assertThat(via.submit(new InstanceJob<>(1, at -> 7)).join()).isEqualTo(7);
        watch.cancel();

        assertThatThrownBy(() -> via.submit(new InstanceJob<>(1, at -> 8))).isInstanceOf(CancellationException.class);
        assertThat(cancelled).hasValue(1);
    }

    @Test
    void pastItsDeadlineTheNextPieceIsRefusedWith503NamingTheSetting() {
        AtomicInteger timedOut = new AtomicInteger();
        ExplainService.Watch watch = new ExplainService.Watch(System.nanoTime() - 1, () -> { }, timedOut::incrementAndGet,
                dev.igate.gateway.tracing.RequestTrace.NONE);
        InstanceScheduler via = watch.around(InstanceScheduler.CALLER_THREAD, Duration.ofSeconds(60));

        assertThatThrownBy(() -> via.submit(new InstanceJob<>(1, at -> 7))).isInstanceOf(ServerBusyException.class)
                .hasMessageContaining("longer than 60 s (igate.explainer.timeout)");
        assertThat(timedOut).hasValue(1);
    }
}
