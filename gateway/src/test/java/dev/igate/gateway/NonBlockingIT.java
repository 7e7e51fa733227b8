package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.springframework.http.MediaType;
import reactor.blockhound.BlockingOperationError;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/** BlockHound is active in this JVM, and concurrent inference never blocks an event loop. */
class NonBlockingIT extends ServerTestSupport {

    @Test
    void blockHoundCatchesBlockingCallsOnNonBlockingThreads() {
        Throwable error = Mono.fromCallable(() -> {
                    Thread.sleep(1);
                    return 1;
                })
                .subscribeOn(Schedulers.parallel())
                .onErrorResume(e -> Mono.error(e))
                .map(x -> (Throwable) null)
                .onErrorResume(e -> Mono.just(e))
                .block(Duration.ofSeconds(5));

        assertThat(error).isInstanceOf(BlockingOperationError.class);
    }

    @Test
    void concurrentRequestsAllSucceedWithTheirOwnAnswers() {
        List<String> texts = List.of(SEED_TEXT, "Compiler optimisations for vectorised loops",
                "Habitat loss drives amphibian decline", "Checkpoint inhibitors prolong survival in metastatic melanoma");
        List<String> expected = List.of("Pharma-Toxico", "Computer-Science", "Ecology", "Oncology");

        List<Boolean> ok = Flux.range(0, 40).flatMap(i -> client.post().uri("/v1/models/{m}:predict", MODEL)
                        .contentType(MediaType.APPLICATION_JSON)
                        .bodyValue("{\"instances\": [\"" + texts.get(i % 4) + "\"]}")
                        .exchange()
                        .returnResult(String.class).getResponseBody().collectList()
                        .map(body -> String.join("", body).contains("\"" + expected.get(i % 4) + "\"")), 16)
                .collectList().block(Duration.ofSeconds(60));

        assertThat(ok).hasSize(40).containsOnly(true);
    }
}
