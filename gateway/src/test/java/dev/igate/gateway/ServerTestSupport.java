package dev.igate.gateway;

import static org.awaitility.Awaitility.await;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.BeforeEach;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;
import reactor.blockhound.BlockHound;

/**
 * A real server on a random port serving the demo model, built once per build into
 * {@code target/test-models}. BlockHound is installed, so any blocking call on a Netty event
 * loop or a gRPC transport thread fails the request that made it.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@AutoConfigureWebTestClient(timeout = "60s")
public abstract class ServerTestSupport {

    public static final Path DEMO_REPOSITORY = Path.of("target", "test-models").toAbsolutePath();
    public static final String MODEL = "BERTSeqClassification";
    public static final String SEED_TEXT = "Risk assessment implications of site-specific oral relative bioavailability.";
    public static final String SEED = """
            {"id": "d3b15cad-50a2-4eaf-80ce-8b0a428bd298",
             "inputs": [{"name": "4b7c7d4a-51e4-43c8-af61-04639f6ef4bc", "shape": -1, "datatype": "BYTES",
                         "data": "{\\"text\\":\\"Risk assessment implications of site-specific oral relative bioavailability.\\"}"}]}
            """;

    static {
        // Handing a job to a queue takes that queue's lock for a constant-time enqueue; BlockHound
        // reports the park only when the lock is contended. Those hand-offs are the point of the
        // design (the work itself runs on the pools), so they are allowed; nothing else is.
        BlockHound.install(builder -> builder
                .allowBlockingCallsInside("java.util.concurrent.ThreadPoolExecutor", "execute")
                .allowBlockingCallsInside("dev.igate.predictor.batching.DynamicBatcher", "submit")
                .allowBlockingCallsInside("dev.igate.predictor.batching.DynamicBatcher", "checkAdmission")
                // Jackson fills its deserializer cache under a lock, once per type, when a JVM first parses it
                .allowBlockingCallsInside("tools.jackson.databind.deser.DeserializerCache", "_createAndCacheValueDeserializer")
                .allowBlockingCallsInside("dev.igate.predictor.batching.DynamicBatcher", "remove")
                .allowBlockingCallsInside("dev.igate.predictor.batching.DynamicBatcher", "queueDepth")
                // gRPC handlers run on grpc-netty's transport threads (grpc-default-worker-ELG-*, or
                // grpc-nio-worker-ELG-* without epoll): they must never block either
                .nonBlockingThreadPredicate(current -> current.or(t -> t.getName().contains("-worker-ELG-"))));
    }

    @Autowired
    protected WebTestClient client;

    @DynamicPropertySource
    static void demoRepository(DynamicPropertyRegistry registry) {
        registry.add("igate.model-repository", DEMO_REPOSITORY::toString);
        // the seed classifier only: the task demo models have their own tests (TaskModelsIT)
        registry.add("igate.demo-task-models", () -> "false");
    }

    /**
     * Waits until no model run has finished for half a second: work another test left behind (the
     * piece of a cancelled explanation still running on an instance) no longer moves the counters a
     * test is about to compare.
     */
    public static void awaitIdle(WebTestClient client) {
        double[] last = {-1};
        await().atMost(java.time.Duration.ofSeconds(60)).pollInterval(java.time.Duration.ofMillis(500)).until(() -> {
            String metrics = client.get().uri("/actuator/prometheus").exchange().expectBody(String.class).returnResult().getResponseBody();
            double runs = metrics.lines().filter(l -> l.startsWith("nv_inference_exec_count_total"))
                    .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
            boolean still = runs == last[0];
            last[0] = runs;
            return still;
        });
    }

    /** Deletes a folder and everything under it, if it exists (tests start from a clean working folder). */
    public static void deleteTree(Path folder) throws java.io.IOException {
        if (java.nio.file.Files.exists(folder)) {
            try (java.util.stream.Stream<Path> walk = java.nio.file.Files.walk(folder)) {
                for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    java.nio.file.Files.delete(p);
                }
            }
        }
    }

    /** The version that answered each predict of a load, and the statuses other than 200; {@code running} false stops it. */
    public record Load(List<String> versions, List<Integer> failures, AtomicBoolean running) {
    }

    /**
     * {@code concurrency} clients sending V1 predicts to {@code model} back to back until stopped, on
     * threads of their own (on Reactor's shared bounded-elastic pool they would starve the server in
     * this JVM, whose health checks and blocking work run there).
     */
    public static Load predictLoad(WebTestClient webClient, String model, int concurrency) {
        Load load = new Load(new CopyOnWriteArrayList<>(), new CopyOnWriteArrayList<>(), new AtomicBoolean(true));
        Runnable client = () -> {
            while (load.running().get()) {
                var r = webClient.post().uri("/v1/models/" + model + ":predict").contentType(MediaType.APPLICATION_JSON)
                        .bodyValue("{\"instances\": [\"a short text\"]}").exchange().expectBody().returnResult();
                if (r.getStatus().value() == 200) {
                    load.versions().add(r.getResponseHeaders().getFirst("X-Model-Version"));
                } else {
                    load.failures().add(r.getStatus().value());
                }
            }
        };
        for (int i = 0; i < concurrency; i++) {
            Thread thread = new Thread(client, "predict-load-" + i);
            thread.setDaemon(true);
            thread.start();
        }
        return load;
    }

    /** A per-model counter from /actuator/prometheus ({@code name} with its _total), 0 before the first. */
    public static double modelCounter(WebTestClient client, String name, String model) {
        String metrics = new String(client.get().uri("/actuator/prometheus").exchange().expectBody().returnResult().getResponseBody());
        java.util.regex.Matcher m = java.util.regex.Pattern.compile(name + "\\{[^}]*model_name=\"" + model
                + "\"[^}]*\\} ([0-9.E]+)").matcher(metrics);
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }

    /** Waits until the demo model's versions have loaded (the first run builds them, about 10 s). */
    @BeforeEach
    void awaitModels() throws InterruptedException {
        awaitReady(client, "/v2/models/" + MODEL + "/versions/1/ready");
        awaitReady(client, "/v2/models/" + MODEL + "/versions/2/ready");
    }

    public static void awaitReady(WebTestClient client, String path) {
        await().alias(path + " ready").atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(200)).until(() -> {
            try {
                return client.get().uri(path).exchange().expectBody().returnResult().getStatus().value() == 200;
            } catch (IllegalStateException noAnswer) {
                // seen once in a full run, after FuzzIT's REST half: keep what the threads were doing for diagnosis
                System.err.println("No answer to GET " + path + "; threads:");
                Thread.getAllStackTraces().forEach((thread, stack) -> {
                    System.err.println("\"" + thread.getName() + "\" " + thread.getState());
                    for (StackTraceElement frame : stack) {
                        System.err.println("\tat " + frame);
                    }
                });
                throw noAnswer;
            }
        });
    }
}
