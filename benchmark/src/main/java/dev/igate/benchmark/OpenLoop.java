package dev.igate.benchmark;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * An open-loop HTTP load generator: requests leave at a fixed rate whatever the server does (a
 * closed loop such as hey slows down with the server and hides its queueing). Latency counts from
 * the moment a request was due, so a late send counts against the server too.
 *
 * <p>Prints one line: {@code OPENLOOP rate=.. seconds=.. sent=.. ok=.. busy=.. busy_without_retry_after=..
 * other=.. errors=.. goodput=.. ok_p50_ms=.. ok_p99_ms=.. busy_p50_ms=..}, where busy is 503.
 *
 * <p>Usage: {@code OpenLoop url body-file requests-per-second seconds}
 */
public final class OpenLoop {

    private record Answer(int status, boolean retryAfter, long nanos) {
    }

    public static void main(String[] args) throws Exception {
        URI url = URI.create(args[0]);
        byte[] body = Files.readAllBytes(Path.of(args[1]));
        double rate = Double.parseDouble(args[2]);
        double seconds = Double.parseDouble(args[3]);
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .executor(Executors.newFixedThreadPool(2)).connectTimeout(Duration.ofSeconds(5)).build();
        ConcurrentLinkedQueue<Answer> answers = new ConcurrentLinkedQueue<>();
        AtomicInteger errors = new AtomicInteger();
        java.util.Map<String, Integer> errorKinds = new java.util.concurrent.ConcurrentHashMap<>();
        AtomicInteger pending = new AtomicInteger();
        long total = Math.round(rate * seconds);
        long interval = Math.round(1e9 / rate);
        long[] lags = new long[(int) total];
        long start = System.nanoTime();
        for (long i = 0; i < total; i++) {
            long due = start + i * interval;
            long wait = due - System.nanoTime();
            if (wait > 0) {
                LockSupport.parkNanos(wait);
            }
            HttpRequest request = HttpRequest.newBuilder(url).timeout(Duration.ofSeconds(60))
                    .header("Content-Type", "application/json").method(body.length == 0 ? "GET" : "POST", body.length == 0 ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body)).build();
            pending.incrementAndGet();
            lags[(int) i] = System.nanoTime() - due;
            http.sendAsync(request, HttpResponse.BodyHandlers.discarding()).whenComplete((r, e) -> {
                if (e != null) {
                    errors.incrementAndGet();
                    Throwable cause = e.getCause() != null ? e.getCause() : e;
                    errorKinds.merge(cause.getClass().getSimpleName() + ": " + cause.getMessage(), 1, Integer::sum);
                } else {
                    answers.add(new Answer(r.statusCode(), r.headers().firstValue("Retry-After").isPresent(),
                            System.nanoTime() - due));
                }
                pending.decrementAndGet();
            });
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        while (pending.get() > 0 && System.nanoTime() < deadline) {
            LockSupport.parkNanos(10_000_000L);
        }
        long[] ok = answers.stream().filter(a -> a.status() == 200).mapToLong(Answer::nanos).sorted().toArray();
        long[] busy = answers.stream().filter(a -> a.status() == 503).mapToLong(Answer::nanos).sorted().toArray();
        long busyWithoutRetryAfter = answers.stream().filter(a -> a.status() == 503 && !a.retryAfter()).count();
        long other = answers.stream().filter(a -> a.status() != 200 && a.status() != 503).count();
        System.out.printf(Locale.ROOT, "OPENLOOP rate=%.0f seconds=%.0f sent=%d ok=%d busy=%d busy_without_retry_after=%d other=%d"
                        + " errors=%d unanswered=%d goodput=%.1f ok_p50_ms=%.1f ok_p99_ms=%.1f busy_p50_ms=%.1f%n",
                rate, seconds, total, ok.length, busy.length, busyWithoutRetryAfter, other, errors.get(), pending.get(),
                ok.length / seconds, percentile(ok, 0.50), percentile(ok, 0.99), percentile(busy, 0.50));
        Arrays.sort(lags);
        System.out.printf(Locale.ROOT, "send lag (this client late, on a shared machine): p50 %.1f ms, p99 %.1f ms%n",
                percentile(lags, 0.50), percentile(lags, 0.99));
        errorKinds.forEach((kind, n) -> System.out.println("error " + n + " x " + kind));
        System.exit(0);
    }

    private static double percentile(long[] sorted, double p) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        return sorted[(int) Math.min(sorted.length - 1, Math.floor(p * sorted.length))] / 1e6;
    }

    private OpenLoop() {
    }
}
