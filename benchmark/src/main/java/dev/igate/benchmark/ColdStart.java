package dev.igate.benchmark;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A fresh server's first seconds: waits for its readiness, then runs closed-loop clients from the
 * moment it says ready, and prints the answers per second (200s only) and how long it took to get
 * ready since its launch.
 *
 * <p>Usage: {@code ColdStart <ready url> <predict url> <body file> <concurrency> <seconds> <launch epoch ms>}.
 * Prints {@code startup_to_ready_ms=...}, one {@code second=N rps=...} line per second and a
 * {@code COLD} summary: the first 5 s's mean against the last 10 s's (the steady state).
 */
public final class ColdStart {

    private ColdStart() {
    }

    public static void main(String[] args) throws Exception {
        URI ready = URI.create(args[0]);
        URI predict = URI.create(args[1]);
        byte[] body = Files.readAllBytes(Path.of(args[2]));
        int concurrency = Integer.parseInt(args[3]);
        int seconds = Integer.parseInt(args[4]);
        long launched = Long.parseLong(args[5]);
        HttpClient probe = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofMillis(500)).build();
        while (true) {
            try {
                if (probe.send(HttpRequest.newBuilder(ready).timeout(Duration.ofSeconds(1)).GET().build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    break;
                }
            } catch (java.io.IOException e) {
                // not listening yet
            }
            Thread.sleep(20);
        }
        long readyAt = System.nanoTime();
        long readyMillis = System.currentTimeMillis() - launched;
        AtomicLongArray perSecond = new AtomicLongArray(seconds);
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> clients = new ArrayList<>();
        for (int c = 0; c < concurrency; c++) {
            Thread t = new Thread(() -> {
                HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
                HttpRequest request = HttpRequest.newBuilder(predict).timeout(Duration.ofSeconds(30))
                        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofByteArray(body)).build();
                while (!stop.get()) {
                    try {
                        int status = client.send(request, HttpResponse.BodyHandlers.discarding()).statusCode();
                        int second = (int) ((System.nanoTime() - readyAt) / 1_000_000_000L);
                        if (status == 200 && second < seconds) {
                            perSecond.incrementAndGet(second);
                        }
                    } catch (java.io.IOException e) {
                        // counted as nothing
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "cold-start-client-" + c);
            t.start();
            clients.add(t);
        }
        Thread.sleep(seconds * 1000L);
        stop.set(true);
        for (Thread t : clients) {
            t.join(35_000);
        }
        System.out.printf(Locale.ROOT, "startup_to_ready_ms=%d%n", readyMillis);
        StringBuilder curve = new StringBuilder();
        for (int s = 0; s < seconds; s++) {
            System.out.printf(Locale.ROOT, "second=%d rps=%d%n", s + 1, perSecond.get(s));
            curve.append(s == 0 ? "" : " ").append(perSecond.get(s));
        }
        double first5 = 0;
        for (int s = 0; s < Math.min(5, seconds); s++) {
            first5 += perSecond.get(s) / 5.0;
        }
        double steady = 0;
        int from = Math.max(0, seconds - 10);
        for (int s = from; s < seconds; s++) {
            steady += perSecond.get(s) / (double) (seconds - from);
        }
        System.out.printf(Locale.ROOT, "COLD startup_to_ready_ms=%d first5_rps=%.1f steady_rps=%.1f ratio=%.2f curve=%s%n",
                readyMillis, first5, steady, first5 / steady, curve);
    }
}
