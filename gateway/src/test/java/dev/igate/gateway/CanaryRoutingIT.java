package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import dev.igate.gateway.routing.RevisionWeights;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.cloud.gateway.event.RefreshRoutesEvent;
import org.springframework.cloud.gateway.filter.FilterDefinition;
import org.springframework.cloud.gateway.handler.predicate.PredicateDefinition;
import org.springframework.cloud.gateway.route.RouteDefinition;
import org.springframework.cloud.gateway.route.RouteDefinitionWriter;
import org.springframework.context.ApplicationEventPublisher;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.EntityExchangeResult;
import org.springframework.test.web.reactive.server.WebTestClient;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * The application.yml that ships in the repository root — its 90/10 canary between versions 1
 * and 2 — with the admin API on: exact picks with injected randomness, the split within binomial
 * bounds with real randomness, promote and rollback at run time, sticky routing, and weight
 * groups that follow route additions and removals instead of going stale; gRPC calls without a
 * version follow the same weights.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "spring.config.additional-location=file:../application.yml", "igate.admin-token=test-token", "igate.grpc.port=0",
        "igate.rollback.min-requests=5"})
class CanaryRoutingIT extends ServerTestSupport {

    static final String PREDICT = "/v1/models/" + MODEL + ":predict";
    static final String INFER = "/v2/models/" + MODEL + "/infer";

    @Autowired
    RevisionWeights weights;
    @Autowired
    dev.igate.gateway.grpc.GrpcServer grpc;
    @Autowired
    RouteDefinitionWriter writer;
    @Autowired
    ApplicationEventPublisher events;

    @AfterEach
    void restore() {
        weights.setRandomSupplier(new java.util.Random()::nextDouble);
        admin("/admin/models/" + MODEL + "/canary", "{\"percent\": 10}").expectStatus().isOk();
    }

    EntityExchangeResult<String> predict(String sessionId) {
        WebTestClient.RequestBodySpec spec = client.post().uri(PREDICT).contentType(MediaType.APPLICATION_JSON);
        if (sessionId != null) {
            spec = spec.header(RevisionWeights.STICKY_HEADER, sessionId);
        }
        return spec.bodyValue("{\"instances\": [\"" + ServerTestSupport.SEED_TEXT + "\"]}").exchange()
                .expectStatus().isOk().expectBody(String.class).returnResult();
    }

    static String revision(EntityExchangeResult<?> r) {
        return r.getResponseHeaders().getFirst("X-Revision") + "/" + r.getResponseHeaders().getFirst("X-Model-Version");
    }

    WebTestClient.ResponseSpec admin(String path, String body) {
        WebTestClient.RequestHeadersSpec<?> spec = body == null
                ? client.post().uri(path).header("Authorization", "Bearer test-token")
                : client.put().uri(path).header("Authorization", "Bearer test-token").contentType(MediaType.APPLICATION_JSON).bodyValue(body);
        return spec.exchange();
    }

    @Test
    void injectedRandomnessPicksExactRevisions() {
        weights.setRandomSupplier(() -> 0.05);
        assertThat(revision(predict(null))).isEqualTo("stable/1");
        weights.setRandomSupplier(() -> 0.89);
        assertThat(revision(predict(null))).isEqualTo("stable/1");
        weights.setRandomSupplier(() -> 0.91);
        assertThat(revision(predict(null))).isEqualTo("canary/2");

        weights.setRandomSupplier(() -> 0.95);
        client.post().uri(INFER).contentType(MediaType.APPLICATION_JSON).bodyValue(ServerTestSupport.SEED).exchange()
                .expectStatus().isOk().expectHeader().valueEquals("X-Revision", "canary")
                .expectBody().jsonPath("$.model_version").isEqualTo("2").jsonPath("$.outputs[0].data[0]").isEqualTo("Pharma-Toxico");
    }

    @Test
    void aThousandRequestsSplitNinetyTenWithinBinomialBounds() {
        List<String> revisions = Flux.range(0, 1000)
                .flatMap(i -> Mono.fromCallable(() -> revision(predict(null))).subscribeOn(Schedulers.boundedElastic()), 16)
                .collectList().block(Duration.ofMinutes(3));

        long canary = revisions.stream().filter(r -> r.equals("canary/2")).count();
        long stable = revisions.stream().filter(r -> r.equals("stable/1")).count();
        // Binomial(1000, 0.1): mean 100, sd 9.5; ±4.5 sd fails a correct split about once in 150,000 runs
        assertThat(canary + stable).isEqualTo(1000);
        assertThat(canary).isBetween(57L, 143L);
    }

    @Test
    void promoteAndRollbackChangeTheSplitForTheNextRequest() {
        admin("/admin/models/" + MODEL + "/promote", null).expectStatus().isOk()
                .expectBody().jsonPath("$.bert-v1-predict.bert-v1-predict-canary").isEqualTo(100);
        for (int i = 0; i < 20; i++) {
            assertThat(revision(predict(null))).isEqualTo("canary/2");
        }

        admin("/admin/models/" + MODEL + "/rollback", null).expectStatus().isOk()
                .expectBody().jsonPath("$.bert-v1-predict.bert-v1-predict-canary").isEqualTo(0);
        for (int i = 0; i < 20; i++) {
            assertThat(revision(predict(null))).isEqualTo("stable/1");
        }

        admin("/admin/models/" + MODEL + "/canary", "{\"percent\": 50}").expectStatus().isOk();
        weights.setRandomSupplier(() -> 0.49);
        assertThat(revision(predict(null))).isEqualTo("stable/1");
        weights.setRandomSupplier(() -> 0.51);
        assertThat(revision(predict(null))).isEqualTo("canary/2");
    }

    @Test
    void adminNeedsTheBearerToken() {
        client.post().uri("/admin/models/" + MODEL + "/promote").exchange().expectStatus().isUnauthorized()
                .expectBody().jsonPath("$.error").isEqualTo("A valid bearer token is required");
        client.post().uri("/admin/models/" + MODEL + "/promote").header("Authorization", "Bearer wrong").exchange()
                .expectStatus().isUnauthorized();
        admin("/admin/models/" + MODEL + "/canary", "{\"percent\": 101}").expectStatus().isBadRequest();
        admin("/admin/models/NoSuchModel/promote", null).expectStatus().isNotFound();
    }

    @Test
    void stickyRoutingPinsACallerToOneRevisionWithinTheWeights() {
        for (String user : List.of("user-1", "user-2", "user-3", "user-42")) {
            String first = revision(predict(user));
            for (int i = 0; i < 10; i++) {
                assertThat(revision(predict(user))).isEqualTo(first);
            }
        }
        long canary = Flux.range(0, 400)
                .flatMap(i -> Mono.fromCallable(() -> revision(predict("session-" + i))).subscribeOn(Schedulers.boundedElastic()), 16)
                .filter(r -> r.equals("canary/2")).count().block(Duration.ofMinutes(2));
        // Binomial(400, 0.1): mean 40, sd 6
        assertThat(canary).isBetween(13L, 67L);
    }

    @Test
    void grpcCallsWithoutAVersionFollowTheWeightsOfTheV2Routes() throws InterruptedException {
        io.grpc.ManagedChannel channel = GrpcClients.channel(grpc.port());
        try {
            // given
            var stub = dev.igate.grpc.v2.GRPCInferenceServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, java.util.concurrent.TimeUnit.SECONDS);
            var explain = dev.igate.grpc.v2.GRPCExplainServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, java.util.concurrent.TimeUnit.SECONDS);
            dev.igate.grpc.v2.ModelInferRequest unversioned = GrpcIT.textRequest("", false, null, ServerTestSupport.SEED_TEXT);
            // when / then: the same dice as REST
            weights.setRandomSupplier(() -> 0.05);
            assertThat(stub.modelInfer(unversioned).getModelVersion()).isEqualTo("1");
            weights.setRandomSupplier(() -> 0.95);
            double canaryBefore = revisionCount("bert-v2-infer", "canary");
            assertThat(stub.modelInfer(unversioned).getModelVersion()).isEqualTo("2");
            assertThat(revisionCount("bert-v2-infer", "canary")).as("the gRPC call counts for the canary revision")
                    .isEqualTo(canaryBefore + 1);
            assertThat(explain.modelExplain(unversioned.toBuilder().putParameters("n_steps",
                    dev.igate.grpc.v2.InferParameter.newBuilder().setInt64Param(4).build()).build()).getModelVersion()).isEqualTo("2");
            assertThat(stub.modelInfer(GrpcIT.textRequest("1", false, null, ServerTestSupport.SEED_TEXT)).getModelVersion())
                    .as("an explicit version is not rerouted").isEqualTo("1");
            // a rollback applies to gRPC at once
            admin("/admin/models/" + MODEL + "/rollback", null).expectStatus().isOk();
            assertThat(stub.modelInfer(unversioned).getModelVersion()).isEqualTo("1");
            // sticky by x-session-id metadata, landing where REST's X-Session-Id lands
            admin("/admin/models/" + MODEL + "/canary", "{\"percent\": 50}").expectStatus().isOk();
            weights.setRandomSupplier(new java.util.Random()::nextDouble);
            for (String user : List.of("user-1", "user-2", "user-3", "user-42", "user-77")) {
                io.grpc.Metadata headers = new io.grpc.Metadata();
                headers.put(io.grpc.Metadata.Key.of("x-session-id", io.grpc.Metadata.ASCII_STRING_MARSHALLER), user);
                var sticky = stub.withInterceptors(io.grpc.stub.MetadataUtils.newAttachHeadersInterceptor(headers));
                String rest = client.post().uri(INFER).contentType(MediaType.APPLICATION_JSON)
                        .header(RevisionWeights.STICKY_HEADER, user).bodyValue(ServerTestSupport.SEED).exchange()
                        .expectStatus().isOk().expectBody().returnResult().getResponseHeaders().getFirst("X-Model-Version");
                for (int i = 0; i < 5; i++) {
                    assertThat(sticky.modelInfer(unversioned).getModelVersion()).as(user).isEqualTo(rest);
                }
            }
        } finally {
            channel.shutdownNow().awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    double revisionCount(String group, String revision) {
        String metrics = client.get().uri("/actuator/prometheus").exchange().expectBody(String.class).returnResult().getResponseBody();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?m)^igate_revision_requests_seconds_count\\{[^}]*group=\"" + group
                + "\",outcome=\"success\",revision=\"" + revision + "\"[^}]*} (\\S+)$").matcher(metrics);
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }

    RouteDefinition extraRoute(String id, String version, int weight) {
        RouteDefinition route = new RouteDefinition();
        route.setId(id);
        route.setUri(URI.create("forward:/v1/models/" + MODEL + "/versions/" + version + ":predict"));
        route.setPredicates(List.of(new PredicateDefinition("Path=" + PREDICT), new PredicateDefinition("Method=POST"),
                new PredicateDefinition("Weight=bert-v1-predict, " + weight)));
        route.setFilters(List.of(new FilterDefinition("Revision=" + id)));
        route.setMetadata(Map.of("model", MODEL, "version", version, "revision", id, "group", "bert-v1-predict"));
        return route;
    }

    void refreshAndAwait(java.util.function.Predicate<Map<String, Integer>> until) throws InterruptedException {
        events.publishEvent(new RefreshRoutesEvent(this));
        await().atMost(java.time.Duration.ofSeconds(5)).until(() -> until.test(weights.effectiveWeights().get("bert-v1-predict")));
    }

    @Test
    void weightGroupsFollowRouteAdditionAndRemovalInsteadOfGoingStale() throws InterruptedException {
        writer.save(Mono.just(extraRoute("extra", "2", 100))).block();
        refreshAndAwait(w -> w.containsKey("extra"));
        weights.setRandomSupplier(() -> 0.99);
        assertThat(revision(predict(null))).isEqualTo("extra/2");

        writer.delete(Mono.just("extra")).block();
        refreshAndAwait(w -> !w.containsKey("extra"));

        // the point that picked the removed route now lands on a route that exists
        assertThat(revision(predict(null))).isEqualTo("canary/2");
        assertThat(weights.effectiveWeights().get("bert-v1-predict")).containsOnlyKeys("bert-v1-predict-stable", "bert-v1-predict-canary");
    }

    @Test
    void aRevisionWhoseModelVersionIsNotServedGetsNoShare() throws InterruptedException {
        writer.save(Mono.just(extraRoute("missing", "9", 1000))).block();
        refreshAndAwait(w -> w.containsKey("missing"));
        try {
            assertThat(weights.effectiveWeights().get("bert-v1-predict")).containsEntry("missing", 0);
            weights.setRandomSupplier(() -> 0.5);
            assertThat(revision(predict(null))).isEqualTo("stable/1");
        } finally {
            writer.delete(Mono.just("missing")).block();
            refreshAndAwait(w -> !w.containsKey("missing"));
        }
    }

    @Test
    void aCanaryThatFailsIsRolledBackAutomatically() throws Exception {
        com.sun.net.httpserver.HttpServer failing = com.sun.net.httpserver.HttpServer.create(
                new java.net.InetSocketAddress("127.0.0.1", 0), 0);
        failing.createContext("/", exchange -> {
            byte[] body = "{\"error\": \"canary is broken\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(exchange.getRequestURI().getPath().equals("/v2/health/ready") ? 200 : 500, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        failing.start();
        RouteDefinition stable = guardedRoute("guarded-stable", "stable",
                "forward:/v1/models/" + MODEL + "/versions/1:predict", Map.of());
        RouteDefinition canary = guardedRoute("guarded-canary", "canary",
                "http://127.0.0.1:" + failing.getAddress().getPort(), Map.of("auto-rollback", "true"));
        try {
            writer.save(Mono.just(stable)).block();
            writer.save(Mono.just(canary)).block();
            events.publishEvent(new RefreshRoutesEvent(this));
            await().atMost(java.time.Duration.ofSeconds(5)).until(() -> weights.effectiveWeights().containsKey("guarded"));
            assertThat(weights.effectiveWeights().get("guarded")).containsEntry("guarded-canary", 50);

            // each revision holds half of [0, 1), in the order the group lists them
            boolean stableFirst = weights.effectiveWeights().get("guarded").keySet().iterator().next().equals("guarded-stable");
            double toStable = stableFirst ? 0.1 : 0.9;
            double toCanary = 1 - toStable;
            // min-requests is 5: the fifth failure on each side of the comparison triggers the rollback
            for (int i = 0; i < 5; i++) {
                weights.setRandomSupplier(() -> toStable);
                guarded().expectStatus().isOk().expectHeader().valueEquals("X-Revision", "stable");
                weights.setRandomSupplier(() -> toCanary);
                guarded().expectStatus().isEqualTo(500).expectHeader().valueEquals("X-Revision", "canary");
            }

            // the guard judges on its own thread a few times a second, after the last sample is recorded
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> weights.effectiveWeights().get("guarded").get("guarded-canary") == 0);
            assertThat(weights.effectiveWeights().get("guarded")).containsEntry("guarded-canary", 0).containsEntry("guarded-stable", 100);
            weights.setRandomSupplier(() -> toCanary);
            guarded().expectStatus().isOk().expectHeader().valueEquals("X-Revision", "stable");
            String metrics = client.get().uri("/actuator/prometheus").exchange().expectBody(String.class).returnResult().getResponseBody();
            assertThat(metrics).containsPattern("igate_canary_rollbacks_total\\{[^}]*model_name=\"GuardedModel\",reason=\"errors\"} 1");
        } finally {
            writer.delete(Mono.just("guarded-stable")).block();
            writer.delete(Mono.just("guarded-canary")).block();
            events.publishEvent(new RefreshRoutesEvent(this));
            failing.stop(0);
        }
    }

    WebTestClient.ResponseSpec guarded() {
        return client.post().uri("/guarded/predict").contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"" + SEED_TEXT + "\"]}").exchange();
    }

    static RouteDefinition guardedRoute(String id, String revision, String uri, Map<String, Object> extra) {
        RouteDefinition route = new RouteDefinition();
        route.setId(id);
        route.setUri(URI.create(uri));
        route.setPredicates(List.of(new PredicateDefinition("Path=/guarded/predict"), new PredicateDefinition("Weight=guarded, 50")));
        route.setFilters(List.of(new FilterDefinition("Revision=" + revision),
                new FilterDefinition("SetPath=/v1/models/" + MODEL + "/versions/1:predict")));
        Map<String, Object> meta = new java.util.HashMap<>(Map.of("model", "GuardedModel", "revision", revision, "group", "guarded"));
        meta.putAll(extra);
        route.setMetadata(meta);
        return route;
    }

    @Test
    void revisionMetricsCompareStableAndCanary() {
        weights.setRandomSupplier(() -> 0.95);
        predict(null);
        weights.setRandomSupplier(() -> 0.05);
        predict(null);

        String metrics = client.get().uri("/actuator/prometheus").exchange().expectBody(String.class).returnResult().getResponseBody();

        assertThat(metrics).containsPattern("igate_revision_requests_seconds_count\\{[^}]*group=\"bert-v1-predict\",outcome=\"success\",revision=\"canary\"")
                .containsPattern("igate_revision_requests_seconds_count\\{[^}]*group=\"bert-v1-predict\",outcome=\"success\",revision=\"stable\"");
    }

    @Test
    void plainInProcessGroupsAreServedDirectlyAndARouteWithAnotherFilterTakesItsGroupThroughTheGateway() throws InterruptedException {
        // the shipped canary routes: in process, Path/Method/Weight predicates, a Revision filter, nothing else
        assertThat(weights.revisions()).filteredOn(r -> r.group().startsWith("bert-")).isNotEmpty()
                .allMatch(dev.igate.gateway.routing.Revision::direct);
        // served directly, the V1 query parameter as the controller reads it
        client.post().uri(PREDICT + "?probabilities=true").contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"" + SEED_TEXT + "\"]}").exchange()
                .expectStatus().isOk().expectBody().jsonPath("$.predictions[0].probabilities").exists();
        client.post().uri(PREDICT + "?probabilities=maybe").contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"instances\": [\"" + SEED_TEXT + "\"]}").exchange()
                .expectStatus().isBadRequest().expectBody().jsonPath("$.error").value(m -> assertThat((String) m).contains("probabilities"));
        // HTTP metrics name the handler's pattern, as the gateway's forward did
        assertThat(client.get().uri("/actuator/prometheus").exchange().expectBody(String.class).returnResult().getResponseBody())
                .containsPattern("http_server_requests_seconds_count\\{[^}]*uri=\"/v1/models/\\{model}/versions/\\{version}:predict\"");

        RouteDefinition filtered = extraRoute("filtered", "2", 1000);
        filtered.setFilters(List.of(new FilterDefinition("Revision=filtered"), new FilterDefinition("AddRequestParameter=probabilities, true")));
        writer.save(Mono.just(filtered)).block();
        try {
            refreshAndAwait(w -> w.containsKey("filtered"));
            assertThat(weights.revisions()).filteredOn(r -> r.routeId().equals("filtered")).singleElement()
                    .matches(r -> !r.direct());
            // the group's calls go through the gateway now: its filters apply, the weights still choose
            weights.setRandomSupplier(() -> 0.99);
            EntityExchangeResult<String> through = predict(null);
            assertThat(revision(through)).isEqualTo("filtered/2");
            assertThat(through.getResponseBody()).contains("\"probabilities\"");
            weights.setRandomSupplier(() -> 0.01);
            assertThat(revision(predict(null))).isEqualTo("stable/1");
        } finally {
            writer.delete(Mono.just("filtered")).block();
            refreshAndAwait(w -> !w.containsKey("filtered"));
        }
    }
}
