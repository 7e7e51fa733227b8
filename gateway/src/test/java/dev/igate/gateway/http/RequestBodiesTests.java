package dev.igate.gateway.http;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class RequestBodiesTests {

    @Test
    void smallBodiesAreDecodedWhereTheyArriveLargeOnesOffThatThread() {
        String caller = Thread.currentThread().getName();

        String small = RequestBodies.decode(new byte[RequestBodies.INLINE_DECODE_BYTES], b -> Thread.currentThread().getName()).block();
        String large = RequestBodies.decode(new byte[RequestBodies.INLINE_DECODE_BYTES + 1], b -> Thread.currentThread().getName()).block();

        assertThat(small).isEqualTo(caller);
        assertThat(large).startsWith("parallel-");
    }
}
