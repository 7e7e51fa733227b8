package dev.igate.gateway.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;

import org.junit.jupiter.api.Test;

import dev.igate.protocol.ModelNotReadyException;

class InFlightTests {

    @Test
    void drainingWaitsForTheLastLeaseThenRefusesNewWork() {
        InFlight work = new InFlight("Model m version 1");
        InFlight.Lease first = work.acquire();
        InFlight.Lease second = work.acquire();
        CompletableFuture<Boolean> drained = CompletableFuture.supplyAsync(() -> work.drainThenClose(Duration.ofMinutes(1)));

        first.close();
        first.close(); // a second close counts once
        assertThat(work.count()).isEqualTo(1);
        assertThat(drained).isNotDone();
        // still open while draining: work that resolved the version before it was replaced gets in
        work.acquire().close();

        second.close();
        await().atMost(Duration.ofSeconds(10)).until(drained::isDone);
        assertThat(drained.join()).isTrue();
        assertThatThrownBy(work::acquire).isInstanceOf(ModelNotReadyException.class)
                .hasMessage("Model m version 1 was unloaded");
    }

    @Test
    void pastTheLimitTheVersionClosesAndAwaitNoneWaitsForWhatStillRuns() {
        InFlight work = new InFlight("Model m version 1");
        InFlight.Lease running = work.acquire();

        assertThat(work.drainThenClose(Duration.ZERO)).isFalse();
        assertThatThrownBy(work::acquire).isInstanceOf(ModelNotReadyException.class);

        CompletableFuture<Void> none = CompletableFuture.runAsync(work::awaitNone);
        assertThat(none).isNotDone();
        running.close();
        await().atMost(Duration.ofSeconds(10)).until(none::isDone);
        assertThat(work.count()).isZero();
    }
}
