package dev.igate.gateway.routing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.time.Duration;

import org.junit.jupiter.api.Test;

class SlidingLatenciesTests {

    static final long SECOND = 1_000_000_000L;

    @Test
    void p99IsWithinTenPercentAndErrorsAreCountedWhateverTheRate() {
        SlidingLatencies window = new SlidingLatencies(Duration.ofSeconds(60));
        long now = 1_000 * SECOND;
        // a million requests in one minute: 1 ms to 10 ms evenly, every hundredth an error
        for (int i = 0; i < 1_000_000; i++) {
            window.record(now + i * 50_000L, 1_000_000L + (i % 1000) * 9_000L, i % 100 == 0);
        }
        SlidingLatencies.Stats stats = window.stats(now + 50 * SECOND);

        assertThat(stats.requests()).isEqualTo(1_000_000);
        assertThat(stats.errorRate()).isCloseTo(0.01, within(1e-9));
        // the true p99 is 9.91 ms; a bucket is 10% wide
        assertThat(stats.p99Nanos() / 1e6).isBetween(9.91, 9.91 * 1.1);
    }

    @Test
    void requestsOlderThanTheWindowLeaveIt() {
        SlidingLatencies window = new SlidingLatencies(Duration.ofSeconds(60));
        long start = 5_000 * SECOND;
        window.record(start, 500_000_000L, true);
        window.record(start + 30 * SECOND, 2_000_000L, false);

        assertThat(window.stats(start + 31 * SECOND).requests()).isEqualTo(2);
        SlidingLatencies.Stats later = window.stats(start + 70 * SECOND);
        assertThat(later.requests()).isEqualTo(1);
        assertThat(later.errors()).isZero();
        assertThat(later.p99Nanos() / 1e6).isBetween(2.0, 2.2);
        assertThat(window.stats(start + 100 * SECOND).requests()).isZero();
    }
}
