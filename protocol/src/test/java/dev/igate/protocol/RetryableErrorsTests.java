package dev.igate.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;

import org.junit.jupiter.api.Test;

/** Which errors a transport that can wait (Kafka) tries again: by their type, never their text. */
class RetryableErrorsTests {

    @Test
    void passingRefusalsAreRetryableAndLastingOnesAreNot() {
        assertThat(new ServerBusyException("queue full", Duration.ofSeconds(1)).retryable()).isTrue();
        assertThat(new QueueTimeoutException("timed out", Duration.ofSeconds(1)).retryable()).isTrue();
        // loading, replaced or unloaded under the request, a remote predictor down: whatever the words
        assertThat(new ModelNotReadyException("Model m version 1 was unloaded").retryable()).isTrue();
        assertThat(new ModelNotReadyException("Model m is unloading").retryable()).isTrue();
        assertThat(new ModelNotReadyException("Remote predictor http://p is unavailable (circuit open after repeated failures)")
                .retryable()).isTrue();
        // a version that failed to load stays failed until an operator acts
        assertThat(ModelNotReadyException.failed("Model m failed to load: corrupt").retryable()).isFalse();
        assertThat(new InvalidInputException("bad").retryable()).isFalse();
        assertThat(ModelNotFoundException.model("m").retryable()).isFalse();
        assertThat(new InferenceFailedException("boom", null).retryable()).isFalse();
        assertThat(new LoadFailedException("version 2 FAILED").retryable()).isFalse();
    }
}
