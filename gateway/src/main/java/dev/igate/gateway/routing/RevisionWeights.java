package dev.igate.gateway.routing;

import java.net.URI;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.DoubleSupplier;

import dev.igate.gateway.model.ModelRegistry;
import dev.igate.gateway.model.VersionState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.cloud.gateway.event.RefreshRoutesResultEvent;
import org.springframework.cloud.gateway.handler.predicate.WeightRoutePredicateFactory;
import org.springframework.cloud.gateway.route.RouteDefinition;
import org.springframework.cloud.gateway.route.RouteDefinitionLocator;
import org.springframework.cloud.gateway.support.ServerWebExchangeUtils;
import org.springframework.context.ApplicationListener;
import org.springframework.core.Ordered;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;
import reactor.core.publisher.Mono;

/**
 * Rolls the dice for every weight group once per exchange, as Spring Cloud Gateway's
 * WeightCalculatorWebFilter does, for the built-in {@code Weight=group,weight} predicate to
 * compare against — but with groups rebuilt wholesale from the current route definitions at
 * every route refresh (so a removed or regrouped route never keeps a share: the built-in filter
 * only ever adds to its groups), with run-time weight overrides from the admin API applied at
 * once without a refresh, with a revision that cannot serve (an in-process model version that is
 * not ready, a remote one that {@link RouteHealth} finds down) getting no share, and with
 * optional sticky routing by a request header.
 *
 * <p>It runs after the built-in calculator (which Spring Cloud Gateway registers regardless) and
 * overwrites its choice for every group, removing the choice where every weight is 0 so that no
 * weighted route matches.
 */
@Component
public class RevisionWeights implements WebFilter, Ordered, ApplicationListener<RefreshRoutesResultEvent> {

    public static final String STICKY_HEADER = "X-Session-Id";
    private static final Logger log = LoggerFactory.getLogger(RevisionWeights.class);

    private final RouteDefinitionLocator definitions;
    private final ModelRegistry registry;
    private final Map<String, Integer> overrides = new ConcurrentHashMap<>();
    private volatile Map<String, List<Revision>> groups = Map.of();
    /** The weight group each direct path's calls go to: every member {@link Revision#direct}, one literal POST path. */
    private volatile Map<String, String> directGroups = Map.of();
    private volatile DoubleSupplier random = new Random()::nextDouble;

    private final RouteHealth health;
    /** The gateway's settings: default filters apply to every route, so routes under them are never direct. */
    private final org.springframework.cloud.gateway.config.GatewayProperties gateway;

    private final dev.igate.gateway.tracing.Tracing tracing;

    public RevisionWeights(RouteDefinitionLocator definitions, ModelRegistry registry, RouteHealth health,
                           org.springframework.cloud.gateway.config.GatewayProperties gateway, dev.igate.gateway.tracing.Tracing tracing) {
        this.tracing = tracing;
        this.definitions = definitions;
        this.gateway = gateway;
        this.registry = registry;
        this.health = health;
    }

    private boolean available(Revision r) {
        return health.isUp(r) && versionReady(r);
    }

    /** Replaces the random source, so tests can pick exact revisions. */
    public void setRandomSupplier(DoubleSupplier random) {
        this.random = random;
    }

    @Override
    public int getOrder() {
        // after Spring Cloud Gateway's own calculator (10001) in case it is enabled: the choice made here wins
        return 10002;
    }

    @Override
    public void onApplicationEvent(RefreshRoutesResultEvent event) {
        rebuild();
    }

    /** Re-reads the route definitions; groups then hold exactly the routes that exist now. */
    public void rebuild() {
        definitions.getRouteDefinitions().collectList().subscribe(this::apply,
                e -> log.warn("Could not read route definitions for weight groups", e));
    }

    void apply(List<RouteDefinition> routes) {
        Map<String, List<Revision>> next = new LinkedHashMap<>();
        Map<String, java.util.Set<String>> paths = new LinkedHashMap<>();
        for (RouteDefinition route : routes) {
            route.getPredicates().stream().filter(p -> p.getName().equals("Weight")).findFirst().ifPresent(p -> {
                Map<String, String> args = p.getArgs();
                List<String> values = new ArrayList<>(args.values());
                String group = args.getOrDefault(WeightRoutePredicateFactory.GROUP_KEY, values.isEmpty() ? "" : values.get(0)).trim();
                String weight = args.getOrDefault(WeightRoutePredicateFactory.WEIGHT_KEY, values.size() > 1 ? values.get(1) : "0").trim();
                Map<String, Object> meta = route.getMetadata();
                next.computeIfAbsent(group, g -> new ArrayList<>()).add(new Revision(route.getId(), group,
                        Integer.parseInt(weight), String.valueOf(meta.getOrDefault("revision", route.getId())),
                        meta.get("model") == null ? null : String.valueOf(meta.get("model")),
                        meta.get("version") == null ? null : String.valueOf(meta.get("version")), route.getUri(),
                        "true".equals(String.valueOf(meta.get("auto-rollback"))), direct(route)));
                paths.computeIfAbsent(group, g -> new java.util.HashSet<>()).add(literalPath(route));
            });
        }
        Map<String, String> direct = new java.util.HashMap<>();
        next.forEach((group, members) -> {
            java.util.Set<String> path = paths.get(group);
            if (path.size() == 1 && path.iterator().next() != null && members.stream().allMatch(Revision::direct)) {
                direct.put(path.iterator().next(), group);
            }
        });
        groups = Map.copyOf(next);
        directGroups = Map.copyOf(direct);
        overrides.keySet().retainAll(next.values().stream().flatMap(List::stream).map(Revision::routeId).toList());
        log.debug("Weight groups rebuilt: {}", next);
    }

    /** Whether the data plane can serve the route without the gateway (see {@link Revision#direct}). */
    private boolean direct(RouteDefinition route) {
        if (gateway != null && !gateway.getDefaultFilters().isEmpty()) {
            // default filters apply to every route: only the gateway runs them
            return false;
        }
        URI uri = route.getUri();
        boolean inProcess = uri != null && "forward".equals(uri.getScheme()) && route.getMetadata().get("version") != null;
        boolean plainPredicates = route.getPredicates().stream().allMatch(p -> switch (p.getName()) {
            case "Path", "Weight" -> true;
            case "Method" -> p.getArgs().values().stream().allMatch(m -> m.trim().equalsIgnoreCase("POST"));
            default -> false;
        });
        boolean plainFilters = route.getFilters().stream().allMatch(f -> f.getName().equals("Revision"));
        boolean ownLogger = route.getMetadata().keySet().stream().anyMatch(k -> k.startsWith("logger"));
        return inProcess && plainPredicates && plainFilters && !ownLogger && literalPath(route) != null;
    }

    /** The route's one Path pattern when it is a literal path (no variables, no wildcards), else null. */
    private static String literalPath(RouteDefinition route) {
        List<String> patterns = route.getPredicates().stream().filter(p -> p.getName().equals("Path"))
                .flatMap(p -> p.getArgs().entrySet().stream().filter(e -> !e.getKey().equals("matchTrailingSlash")).map(Map.Entry::getValue))
                .toList();
        if (patterns.size() != 1) {
            return null;
        }
        String path = patterns.get(0).trim();
        return path.startsWith("/") && path.chars().noneMatch(c -> c == '{' || c == '*' || c == '?') ? path : null;
    }

    /**
     * The revision this exchange's dice chose, when its path is that of a group of direct revisions
     * (see {@link Revision#direct}); null when it is not, or when no revision of the group can serve.
     */
    public Revision directChoice(ServerWebExchange exchange) {
        String group = directGroups.get(exchange.getRequest().getPath().value());
        if (group == null) {
            return null;
        }
        Map<String, String> chosen = exchange.getAttributeOrDefault(ServerWebExchangeUtils.WEIGHT_ATTR, null);
        String routeId = chosen == null ? null : chosen.get(group);
        if (routeId == null) {
            return null;
        }
        for (Revision r : groups.getOrDefault(group, List.of())) {
            if (r.routeId().equals(routeId)) {
                return r;
            }
        }
        return null;
    }

    /** The groups as they stand, each revision with its effective weight. */
    public Map<String, Map<String, Integer>> effectiveWeights() {
        Map<String, Map<String, Integer>> out = new LinkedHashMap<>();
        groups.forEach((group, members) -> {
            Map<String, Integer> weights = new LinkedHashMap<>();
            members.forEach(r -> weights.put(r.routeId(), weight(r)));
            out.put(group, weights);
        });
        return out;
    }

    public List<Revision> revisions() {
        return groups.values().stream().flatMap(List::stream).toList();
    }

    /** Sets a route's weight from now on, until the next change or until the route disappears. */
    public void override(String routeId, int weight) {
        if (weight < 0) {
            throw new IllegalArgumentException("weight must not be negative");
        }
        overrides.put(routeId, weight);
    }

    /** Whether the route shares a weight group with other revisions (a call to it could go elsewhere). */
    public boolean hasAlternatives(String routeId) {
        List<Revision> members = groupOf(routeId);
        return members != null && members.size() > 1;
    }

    /**
     * The revision a call that {@code routeId} failed to answer goes to instead: of the other
     * revisions of its group that can serve now, the one with the highest effective weight; null
     * when none can.
     */
    public Revision alternative(String routeId) {
        List<Revision> members = groupOf(routeId);
        Revision best = null;
        int bestWeight = 0;
        for (Revision r : members == null ? List.<Revision>of() : members) {
            int w = r.routeId().equals(routeId) ? 0 : weight(r);
            if (w > bestWeight) {
                best = r;
                bestWeight = w;
            }
        }
        return best;
    }

    private List<Revision> groupOf(String routeId) {
        for (List<Revision> members : groups.values()) {
            for (Revision r : members) {
                if (r.routeId().equals(routeId)) {
                    return members;
                }
            }
        }
        return null;
    }

    private int weight(Revision r) {
        return available(r) ? overrides.getOrDefault(r.routeId(), r.weight()) : 0;
    }

    private boolean versionReady(Revision r) {
        if (r.model() == null || r.version() == null) {
            return true;
        }
        try {
            return registry.state(r.model(), r.version()).status() == VersionState.Status.READY;
        } catch (RuntimeException e) {
            return false;
        }
    }

    /**
     * Puts this exchange's choices where the {@code Weight} predicate reads them: each group's dice
     * are rolled when a predicate (or the direct path) first asks for that group, once, so a call
     * pays for its own group's roll only, not for every group's.
     */
    @Override
    public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
        Map<String, String> earlier = exchange.getAttributeOrDefault(ServerWebExchangeUtils.WEIGHT_ATTR, null);
        exchange.getAttributes().put(ServerWebExchangeUtils.WEIGHT_ATTR,
                new Choices(groups, exchange.getRequest().getHeaders().getFirst(STICKY_HEADER), earlier, tracing.of(exchange.getAttributes())));
        return chain.filter(exchange);
    }

    /**
     * One exchange's choice per weight group, made on first look-up and kept: null for a group
     * whose weights are all 0 (so no route of it matches). A group this filter does not know (none
     * now) keeps the built-in calculator's choice.
     */
    private final class Choices extends java.util.AbstractMap<String, String> {
        private static final String NONE = "";
        private final Map<String, List<Revision>> groups;
        private final String sticky;
        private final Map<String, String> earlier;
        private final Map<String, String> made = new ConcurrentHashMap<>(4);
        /** The exchange's trace: each group's choice is a span of it. */
        private final dev.igate.gateway.tracing.RequestTrace trace;

        Choices(Map<String, List<Revision>> groups, String sticky, Map<String, String> earlier,
                dev.igate.gateway.tracing.RequestTrace trace) {
            this.trace = trace;
            this.groups = groups;
            this.sticky = sticky;
            this.earlier = earlier == null ? Map.of() : earlier;
        }

        @Override
        public String get(Object key) {
            List<Revision> members = key instanceof String group ? groups.get(group) : null;
            if (members == null) {
                return key == null ? null : earlier.get(key);
            }
            String pick = made.computeIfAbsent((String) key, group -> {
                long start = System.nanoTime();
                String chosen = pick(group, members, sticky);
                if (trace.recording()) {
                    String revision = members.stream().filter(r -> r.routeId().equals(chosen)).map(Revision::revision)
                            .filter(java.util.Objects::nonNull).findFirst().orElse("");
                    trace.stage("igate.route", start, System.nanoTime(), "igate.weight_group", group, "igate.route",
                            chosen == null ? "none" : chosen, "igate.revision", revision, "igate.sticky", sticky != null);
                }
                return chosen == null ? NONE : chosen;
            });
            return pick == NONE ? null : pick;
        }

        @Override
        public boolean containsKey(Object key) {
            return get(key) != null;
        }

        @Override
        public String put(String key, String value) {
            return made.put(key, value);
        }

        @Override
        public java.util.Set<Map.Entry<String, String>> entrySet() {
            Map<String, String> all = new LinkedHashMap<>(earlier);
            for (String group : groups.keySet()) {
                String pick = get(group);
                if (pick == null) {
                    all.remove(group);
                } else {
                    all.put(group, pick);
                }
            }
            return java.util.Collections.unmodifiableMap(all).entrySet();
        }
    }

    /**
     * The revision an unversioned call from outside the HTTP routes (gRPC) goes to: chosen with
     * the weights, overrides, availability and stickiness of the group whose routes forward in
     * process to the model's V2 {@code endpoint} ({@code infer} or {@code explain}). Null when the
     * model has no such group; its default version serves then.
     */
    public Revision choose(String model, String endpoint, String sticky) {
        for (Map.Entry<String, List<Revision>> e : groups.entrySet()) {
            List<Revision> members = e.getValue();
            if (!members.isEmpty() && members.stream().allMatch(r -> forwardsTo(r, model, endpoint))) {
                String routeId = pick(e.getKey(), members, sticky);
                return members.stream().filter(r -> r.routeId().equals(routeId)).findFirst().orElse(null);
            }
        }
        return null;
    }

    /**
     * The revision this exchange's dice chose for a call to {@code path} (an unversioned model path
     * such as {@code /v1/models/m:predict}): the chosen member of the group whose routes forward in
     * process to that path with a version in it ({@code /v1/models/m/versions/1:predict}). Null when
     * no group forwards there (the model's default version serves), or before {@link #filter} ran.
     */
    public Revision chosenFor(ServerWebExchange exchange, String path) {
        Map<String, String> chosen = exchange.getAttributeOrDefault(ServerWebExchangeUtils.WEIGHT_ATTR, null);
        if (chosen == null) {
            return null;
        }
        for (Map.Entry<String, List<Revision>> e : groups.entrySet()) {
            List<Revision> members = e.getValue();
            if (!members.isEmpty() && members.stream().allMatch(r -> path.equals(unversioned(r)))) {
                String routeId = chosen.get(e.getKey());
                return members.stream().filter(r -> r.routeId().equals(routeId)).findFirst().orElse(null);
            }
        }
        return null;
    }

    /** The path an in-process revision's target has without its version ({@code /v2/models/m/infer}), or null. */
    private static String unversioned(Revision r) {
        if (r.version() == null || r.uri() == null || !"forward".equals(r.uri().getScheme())) {
            return null;
        }
        return r.uri().getSchemeSpecificPart().replace("/versions/" + r.version(), "");
    }

    private static boolean forwardsTo(Revision r, String model, String endpoint) {
        return model.equals(r.model()) && r.version() != null && r.uri() != null && "forward".equals(r.uri().getScheme())
                && ("/v2/models/" + model + "/versions/" + r.version() + "/" + endpoint).equals(r.uri().getSchemeSpecificPart());
    }

    /** Chooses a route of the group in proportion to the effective weights; null when all are 0. */
    String pick(String group, List<Revision> members, String sticky) {
        int total = 0;
        int[] weights = new int[members.size()];
        for (int i = 0; i < weights.length; i++) {
            weights[i] = weight(members.get(i));
            total += weights[i];
        }
        if (total == 0) {
            // nothing can serve: fall back to the configured weights rather than lose the route,
            // so the caller gets the upstream's fast 503 instead of a misleading 404
            for (int i = 0; i < weights.length; i++) {
                weights[i] = overrides.getOrDefault(members.get(i).routeId(), members.get(i).weight());
                total += weights[i];
            }
            if (total == 0) {
                return null;
            }
        }
        double r = sticky != null && !sticky.isEmpty() ? stickyPoint(group, sticky) : random.getAsDouble();
        double at = r * total;
        double upper = 0;
        for (int i = 0; i < weights.length; i++) {
            upper += weights[i];
            if (at < upper) {
                return members.get(i).routeId();
            }
        }
        return members.get(members.size() - 1).routeId();
    }

    /** A point in [0, 1) fixed by the caller's id and the group: the same caller lands on the same revision. */
    static double stickyPoint(String group, String id) {
        long h = 1125899906842597L;
        for (char c : (group + '\u0000' + id).toCharArray()) {
            h = 31 * h + c;
        }
        h ^= (h >>> 33);
        h *= 0xff51afd7ed558ccdL;
        h ^= (h >>> 33);
        return (h >>> 11) * 0x1.0p-53;
    }
}
