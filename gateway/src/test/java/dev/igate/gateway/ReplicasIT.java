package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import dev.igate.demo.TinyClassifier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The gateway profile in front of two replicas of one revision (two whole servers, the stable
 * revision listed as two instances of {@code lb://igate-stable}), all three JVMs from the packaged
 * jar on loopback ports: under load one replica is killed with SIGKILL and no request fails (the
 * calls it held go to the other replica, and it gets no new ones). Prints the throughput with two
 * replicas and with the one left: on this 2-core machine the proof of the mechanism, not of scale.
 */
class ReplicasIT {

    static final Path WORK = Path.of("target", "replicas").toAbsolutePath();
    static int gateway;
    static Process first;
    static Process second;
    static Process gatewayProcess;

    @BeforeAll
    static void startAll() throws Exception {
        ServerTestSupport.deleteTree(WORK.resolve("models"));
        TinyClassifier.write(WORK.resolve("models").resolve("Tiny").resolve("1"), "Tanh", 1);
        Files.createDirectories(WORK.resolve("no-models"));
        int a = SplitDeploymentIT.freePort();
        int b = SplitDeploymentIT.freePort();
        gateway = SplitDeploymentIT.freePort();
        first = SplitDeploymentIT.start("default", WORK.resolve("replica-1.log"), WORK.resolve("models"), "--server.port=" + a,
                "--igate.demo-models=false");
        second = SplitDeploymentIT.start("default", WORK.resolve("replica-2.log"), WORK.resolve("models"), "--server.port=" + b,
                "--igate.demo-models=false");
        gatewayProcess = SplitDeploymentIT.start("gateway", WORK.resolve("gateway.log"), WORK.resolve("no-models"),
                "--server.port=" + gateway,
                "--spring.cloud.discovery.client.simple.instances.igate-stable[0].uri=http://127.0.0.1:" + a,
                "--spring.cloud.discovery.client.simple.instances.igate-stable[1].uri=http://127.0.0.1:" + b);
        for (int port : new int[] {a, b, gateway}) {
            SplitDeploymentIT.awaitReady(port);
        }
    }

    @AfterAll
    static void stopAll() throws InterruptedException {
        for (Process p : new Process[] {gatewayProcess, first, second}) {
            if (p != null) {
                p.destroy();
                p.waitFor();
            }
        }
    }

    /** Requests per second while {@code answered} grows by {@code count}. */
    static double rate(AtomicInteger answered, int count) {
        int from = answered.get();
        long start = System.nanoTime();
        await().atMost(Duration.ofSeconds(120)).until(() -> answered.get() >= from + count);
        return (answered.get() - from) / ((System.nanoTime() - start) / 1e9);
    }

    @Test
    void aReplicaKilledWithSigkillMidLoadCostsNoRequest() throws Exception {
        AtomicInteger answered = new AtomicInteger();
        List<String> failures = new CopyOnWriteArrayList<>();
        AtomicBoolean stop = new AtomicBoolean();
        ExecutorService clients = Executors.newFixedThreadPool(8);
        for (int i = 0; i < 8; i++) {
            clients.submit(() -> {
                while (!stop.get()) {
                    try {
                        var r = SplitDeploymentIT.post(gateway, "/v1/models/Tiny:predict", "{\"instances\": [\"a short text\"]}");
                        if (r.statusCode() == 200) {
                            answered.incrementAndGet();
                        } else {
                            failures.add(r.statusCode() + " " + r.body());
                        }
                    } catch (Exception e) {
                        failures.add(e.toString());
                    }
                }
            });
        }
        double two;
        double one;
        try {
            rate(answered, 500); // warm-up (the JIT)
            two = rate(answered, 1000);

            first.destroyForcibly(); // SIGKILL
            first.waitFor();
            int atKill = answered.get();
            await().atMost(Duration.ofSeconds(120)).until(() -> answered.get() > atKill + 200);
            one = rate(answered, 1000);
        } finally {
            stop.set(true);
            clients.shutdown();
            clients.awaitTermination(60, TimeUnit.SECONDS);
        }
        System.out.printf("ReplicasIT: %.0f requests/s through the gateway with two replicas, %.0f with the one left "
                + "(8 closed-loop clients, gateway, replicas and clients on one 2-core machine)%n", two, one);

        assertThat(failures).as("requests that failed while a replica died").isEmpty();
        var metrics = SplitDeploymentIT.get(gateway, "/actuator/prometheus").body();
        assertThat(metrics).contains("igate_revision_requests_seconds_count");
    }
}
