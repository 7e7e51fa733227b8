package dev.igate.gateway.web;

import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import dev.igate.gateway.model.ModelRegistry;
import dev.igate.gateway.model.ServedModel;
import dev.igate.protocol.Json;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.web.server.reactive.context.ReactiveWebServerInitializedEvent;
import org.springframework.context.ApplicationListener;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ServerWebExchange;

/**
 * Warms the serving path before the server says it is ready, as Triton's model warm-up does but
 * through the whole path: once every model has loaded, V1 predict and V2 infer requests of each
 * text model's own texts (its calibration.txt, else sentences of several lengths here) go to the
 * server's own port, {@code igate.warm-up.concurrency} (32) at a time, the shorter half of the
 * texts, one per request (four in every 16th), so the handlers, the canary routes, the tokenizer and the batcher at several batch sizes
 * are compiled by the JIT before clients come. Readiness is held meanwhile: until the JIT compiler
 * is quiet (under 5% of a second compiling per second, after 3 s at least) or
 * {@code igate.warm-up.max-duration} (40 s; 0 turns the warm-up off) has passed. The requests are
 * real ones (counted in the request metrics) but never payload-logged: they carry a header with a
 * secret of this process.
 */
@Component
public class ServingWarmUp implements ApplicationListener<ReactiveWebServerInitializedEvent>, DisposableBean {

    private static final Logger log = LoggerFactory.getLogger(ServingWarmUp.class);

    static final String HEADER = "X-Igate-Warm-Up";
    /** This process's secret: a client cannot pass for the warm-up (and escape payload logging). */
    private static final String TOKEN = HexFormat.of().formatHex(new SecureRandom().generateSeed(16));

    /** Texts of several lengths, for models without calibration texts. */
    static final List<String> SENTENCES = List.of(
            "A short sentence.",
            "The results of the study were reported at the annual meeting.",
            "Prices rose sharply in the first quarter, and analysts expect the trend to continue through the summer months.",
            "Researchers measured the effect of temperature on growth in three species over two years, and found that warmer"
                    + " conditions favoured the smallest of them.",
            "The committee reviewed the evidence submitted by both parties, heard testimony from independent experts over"
                    + " several days, and concluded that the original decision should stand, although it recommended that the"
                    + " procedure be revised before the next review so that similar disputes could be settled more quickly and"
                    + " at lower cost to everyone involved.",
            "Oral bioavailability of arsenic in soil was estimated in juvenile swine.",
            "Habitat loss drives amphibian decline in montane wetlands.",
            "New inhibitors reduced tumour growth in mice without measurable toxicity.");

    private final ModelRegistry registry;
    private final Duration maxDuration;
    private final int concurrency;
    private volatile boolean stopped;
    private final AtomicLong sent = new AtomicLong();
    private final AtomicLong answered = new AtomicLong();

    public ServingWarmUp(ModelRegistry registry, @Value("${igate.warm-up.max-duration:40s}") Duration maxDuration,
                         @Value("${igate.warm-up.concurrency:32}") int concurrency) {
        this.registry = registry;
        this.maxDuration = maxDuration;
        this.concurrency = Math.max(1, concurrency);
        if (!maxDuration.isZero() && !maxDuration.isNegative()) {
            registry.warmingUp(true);
        }
    }

    /** Whether an exchange is one of the warm-up's requests. */
    static boolean isWarmUp(ServerWebExchange exchange) {
        return exchange != null && TOKEN.equals(exchange.getRequest().getHeaders().getFirst(HEADER));
    }

    @Override
    public void onApplicationEvent(ReactiveWebServerInitializedEvent event) {
        // the main server (a separate management server has a namespace)
        if (maxDuration.isZero() || maxDuration.isNegative() || event.getApplicationContext().getServerNamespace() != null) {
            return;
        }
        int port = event.getWebServer().getPort();
        Thread thread = new Thread(() -> {
            try {
                warmUp(port);
            } catch (RuntimeException | InterruptedException e) {
                log.warn("Serving warm-up stopped: {}", e.toString());
            } finally {
                registry.warmingUp(false);
            }
        }, "serving-warm-up");
        thread.setDaemon(true);
        thread.start();
    }

    @Override
    public void destroy() {
        stopped = true;
    }

    private record Target(String path, boolean v1, List<String> texts) {
    }

    private void warmUp(int port) throws InterruptedException {
        while (!stopped && !registry.modelsLoaded()) {
            Thread.sleep(100);
        }
        List<Target> targets = new ArrayList<>();
        for (String name : registry.modelNames()) {
            try {
                ServedModel model = registry.resolve(name, null);
                if (model.acceptsText()) {
                    // the Java path (HTTP, JSON, routes, tokenizer, batcher) is what the JIT compiles, and it takes
                    // many calls: short texts make them cheap (the model's run is native code, warm from the start)
                    List<String> own = registry.sampleTexts(name);
                    List<String> texts = (own.isEmpty() ? SENTENCES : own).stream().sorted(java.util.Comparator.comparingInt(String::length))
                            .limit(Math.max(1, Math.min(256, (own.isEmpty() ? SENTENCES : own).size() / 2))).toList();
                    targets.add(new Target("/v1/models/" + name + ":predict", true, texts));
                    targets.add(new Target("/v2/models/" + name + "/infer", false, texts));
                }
            } catch (RuntimeException e) {
                log.debug("model {} not warmed up: {}", name, e.toString());
            }
        }
        if (stopped || targets.isEmpty()) {
            return;
        }
        long start = System.nanoTime();
        long deadline = start + maxDuration.toNanos();
        CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
        long compiledBefore = jit.getTotalCompilationTime();
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(2)).build();
        Semaphore permits = new Semaphore(concurrency);
        // once a second: the JIT compiler's time since the last look, against 5% of the time that passed
        long lastCheck = start;
        long compiledAtCheck = compiledBefore;
        String reason = "its bound (" + maxDuration.toMillis() + " ms) passed";
        for (long i = 0; !stopped && System.nanoTime() < deadline; i++) {
            if (!permits.tryAcquire(100, TimeUnit.MILLISECONDS)) {
                continue;
            }
            Target target = targets.get((int) (i % targets.size()));
            int rows = i % 16 == 15 ? 4 : 1;
            List<String> texts = new ArrayList<>(rows);
            for (int r = 0; r < rows; r++) {
                texts.add(target.texts().get((int) ((i / targets.size() + r) % target.texts().size())));
            }
            sent.incrementAndGet();
            client.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + target.path()))
                            .timeout(Duration.ofSeconds(30)).header("Content-Type", "application/json").header(HEADER, TOKEN)
                            .POST(HttpRequest.BodyPublishers.ofByteArray(body(target, texts))).build(), HttpResponse.BodyHandlers.discarding())
                    .whenComplete((response, error) -> {
                        permits.release();
                        if (response != null && response.statusCode() == 200) {
                            answered.incrementAndGet();
                        }
                    });
            long now = System.nanoTime();
            if (now - lastCheck >= TimeUnit.SECONDS.toNanos(1)) {
                long compiled = jit.getTotalCompilationTime();
                boolean quiet = (compiled - compiledAtCheck) * 20 < TimeUnit.NANOSECONDS.toMillis(now - lastCheck);
                if (quiet && now - start >= TimeUnit.SECONDS.toNanos(3)) {
                    reason = "the JIT compiler went quiet";
                    break;
                }
                compiledAtCheck = compiled;
                lastCheck = now;
            }
        }
        // the requests in flight finish before readiness
        permits.tryAcquire(concurrency, 30, TimeUnit.SECONDS);
        log.info("Serving path warmed up in {} ms ({}): {} requests, {} answered, to {} models; the JIT compiler spent {} ms meanwhile",
                (System.nanoTime() - start) / 1_000_000, reason, sent.get(), answered.get(), targets.size() / 2,
                jit.getTotalCompilationTime() - compiledBefore);
    }

    private static byte[] body(Target target, List<String> texts) {
        if (target.v1()) {
            return Json.writeValue(Map.of("instances", texts));
        }
        return Json.writeValue(Map.of("inputs", List.of(Map.of("name", "text", "shape", List.of(texts.size()), "datatype", "BYTES",
                "data", texts))));
    }

    /** Requests sent and answered 200 so far (for tests). */
    long[] counts() {
        return new long[] {sent.get(), answered.get()};
    }
}
