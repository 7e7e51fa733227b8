package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvFromSource;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.autoscaling.v2.MetricSpec;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.ConfigurationPropertySources;
import org.springframework.core.env.StandardEnvironment;
import org.springframework.core.env.SystemEnvironmentPropertySource;

/**
 * Every manifest under {@code deploy/kubernetes} and {@code deploy/kserve} parses into typed
 * Kubernetes objects (fabric8's model) with no field the type does not know; the custom resources
 * (KServe's InferenceService, KEDA's ScaledObject) have the fields their CRDs require; and
 * everything a manifest says about the application is checked against the application itself:
 * the image's command (the Dockerfile), profile names (application-*.yml), {@code --igate.*}
 * options (the configuration records), ports, probe paths (asked on this running server),
 * environment variables (placeholders in the YAML, or Spring's binding) and metric names (this
 * server's {@code /actuator/prometheus}). {@link #aManifestThatDriftsFromTheApplicationFails}
 * shows that a renamed metric, path, port, variable or option fails.
 */
class DeployManifestsIT extends ServerTestSupport {

    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    static final YAMLMapper YAML = new YAMLMapper();
    static final KubernetesSerialization K8S = new KubernetesSerialization();
    /** Kinds of the core API these manifests use, by kind, and the type each must parse to. */
    static final Map<String, Class<?>> TYPED = Map.of("Deployment", Deployment.class, "Service", Service.class,
            "PersistentVolumeClaim", io.fabric8.kubernetes.api.model.PersistentVolumeClaim.class,
            "ConfigMap", ConfigMap.class, "Secret", Secret.class, "ServiceAccount", ServiceAccount.class,
            "HorizontalPodAutoscaler", HorizontalPodAutoscaler.class, "PodDisruptionBudget", PodDisruptionBudget.class);
    /** Variables the application does not read itself: the JVM's and glibc's, KServe's storage initializer's, the AWS SDK's. */
    static final Set<String> EXTERNAL_VARIABLES = Set.of("JAVA_TOOL_OPTIONS", "MALLOC_ARENA_MAX", "STORAGE_URI",
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY");
    /** Fields of an InferenceService component (KServe v1beta1's ComponentExtensionSpec and PodSpec parts used here). */
    static final Set<String> COMPONENT_FIELDS = Set.of("containers", "minReplicas", "maxReplicas", "scaleMetric", "scaleTarget",
            "containerConcurrency", "serviceAccountName", "canaryTrafficPercent", "timeout", "volumes", "nodeSelector",
            "tolerations", "annotations", "labels", "model", "batcher", "logger", "affinity", "imagePullSecrets");

    /** One YAML document of a manifest file. */
    record Manifest(String file, JsonNode node) {
        String kind() {
            return node.path("kind").asText();
        }

        String name() {
            return node.path("metadata").path("name").asText();
        }

        String where() {
            return file + " " + kind() + "/" + name();
        }
    }

    static List<Manifest> load() throws IOException {
        List<Manifest> out = new ArrayList<>();
        for (String folder : List.of("deploy/kubernetes", "deploy/kserve")) {
            try (Stream<Path> files = Files.list(ROOT.resolve(folder))) {
                for (Path file : files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList()) {
                    try (var docs = YAML.readValues(YAML.createParser(file.toFile()), JsonNode.class)) {
                        while (docs.hasNext()) {
                            JsonNode doc = docs.next();
                            if (doc != null && !doc.isEmpty()) {
                                out.add(new Manifest(ROOT.relativize(file).toString(), doc));
                            }
                        }
                    }
                }
            }
        }
        return out;
    }

    String metrics() {
        return new String(client.get().uri("/actuator/prometheus").exchange().expectBody().returnResult().getResponseBody());
    }

    @org.springframework.boot.test.web.server.LocalServerPort
    int port;

    final java.net.http.HttpClient http = java.net.http.HttpClient.newBuilder().version(java.net.http.HttpClient.Version.HTTP_1_1).build();

    /** Whether this server answers GET {@code path} with 200 (plain HTTP/1.1, a new request on a kept-alive connection). */
    boolean serves(String path) {
        try {
            return http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + port + path))
                    .timeout(java.time.Duration.ofSeconds(20)).build(), java.net.http.HttpResponse.BodyHandlers.discarding())
                    .statusCode() == 200;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(path, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    // ---------------------------------------------------------------- the checks

    /** Everything wrong with these manifests against the application; empty when they fit. */
    List<String> problems(List<Manifest> manifests, String metrics) throws IOException {
        List<String> problems = new ArrayList<>();
        Set<String> metricNames = new HashSet<>();
        for (String line : metrics.split("\n")) {
            if (!line.startsWith("#") && !line.isBlank()) {
                metricNames.add(line.split("[{ ]", 2)[0]);
            }
        }
        // by file, kind and name: two files may define the same Deployment (the GPU predictor replaces the CPU one)
        Map<String, Deployment> deployments = new LinkedHashMap<>();
        Map<String, ConfigMap> configMaps = new HashMap<>();
        for (Manifest m : manifests) {
            Class<?> type = TYPED.get(m.kind());
            if (type != null) {
                Object typed = K8S.unmarshal(m.node().toString());
                if (!type.isInstance(typed)) {
                    problems.add(m.where() + ": parsed as " + typed.getClass().getSimpleName() + ", not " + type.getSimpleName()
                            + " (apiVersion " + m.node().path("apiVersion").asText() + ")");
                    continue;
                }
                unknownFields(typed, m.where(), problems);
                if (typed instanceof Deployment d) {
                    deployments.put(m.where(), d);
                }
                if (typed instanceof ConfigMap c) {
                    configMaps.put(c.getMetadata().getName(), c);
                }
            } else if (!m.kind().equals("InferenceService") && !m.kind().equals("ScaledObject")) {
                problems.add(m.where() + ": a kind these checks do not know");
            }
        }
        for (Manifest m : manifests) {
            switch (m.kind()) {
                case "Deployment" -> {
                    Deployment d = deployments.get(m.where());
                    if (d == null) {
                        continue;
                    }
                    Map<String, String> annotations = d.getSpec().getTemplate().getMetadata().getAnnotations();
                    for (var volume : d.getSpec().getTemplate().getSpec().getVolumes()) {
                        if (volume.getPersistentVolumeClaim() != null && manifests.stream().noneMatch(v -> v.kind().equals("PersistentVolumeClaim")
                                && v.name().equals(volume.getPersistentVolumeClaim().getClaimName()))) {
                            problems.add(m.where() + ": claim " + volume.getPersistentVolumeClaim().getClaimName() + " is in no manifest here");
                        }
                    }
                    for (Container c : d.getSpec().getTemplate().getSpec().getContainers()) {
                        checkContainer(m.where(), c, annotations, configMaps, problems);
                    }
                }
                case "Service" -> checkService(m, deployments, problems);
                case "HorizontalPodAutoscaler" -> {
                    HorizontalPodAutoscaler hpa = K8S.unmarshal(m.node().toString());
                    targets(m.where(), hpa.getSpec().getScaleTargetRef().getKind(), hpa.getSpec().getScaleTargetRef().getName(),
                            deployments, problems);
                    for (MetricSpec metric : hpa.getSpec().getMetrics()) {
                        if (metric.getPods() != null) {
                            exported(m.where(), metric.getPods().getMetric().getName(), metricNames, problems);
                        }
                    }
                }
                case "PodDisruptionBudget" -> {
                    PodDisruptionBudget pdb = K8S.unmarshal(m.node().toString());
                    Map<String, String> selector = pdb.getSpec().getSelector().getMatchLabels();
                    if (deployments.values().stream().noneMatch(d -> d.getSpec().getTemplate().getMetadata().getLabels().entrySet()
                            .containsAll(selector.entrySet()))) {
                        problems.add(m.where() + ": its selector " + selector + " matches no Deployment's pods");
                    }
                }
                case "ConfigMap" -> checkAdapterRules(m, metricNames, manifests, problems);
                case "ScaledObject" -> checkScaledObject(m, deployments, metricNames, problems);
                case "InferenceService" -> checkInferenceService(m, configMaps, problems);
                default -> {
                }
            }
        }
        return problems;
    }

    /** Fields the typed model did not know (fabric8 keeps them aside instead of failing): any is a problem. */
    static void unknownFields(Object o, String path, List<String> problems) {
        if (o == null || o instanceof String || o instanceof Number || o instanceof Boolean || o instanceof Enum<?>) {
            return;
        }
        if (o instanceof Collection<?> list) {
            int i = 0;
            for (Object item : list) {
                unknownFields(item, path + "[" + i++ + "]", problems);
            }
            return;
        }
        if (o instanceof Map<?, ?> map) {
            map.forEach((k, v) -> unknownFields(v, path + "." + k, problems));
            return;
        }
        if (!o.getClass().getName().startsWith("io.fabric8.kubernetes.api.model")) {
            return;
        }
        for (Method getter : o.getClass().getMethods()) {
            if (getter.getParameterCount() != 0 || !getter.getName().startsWith("get") || getter.getDeclaringClass() == Object.class) {
                continue;
            }
            try {
                Object value = getter.invoke(o);
                if (getter.getName().equals("getAdditionalProperties")) {
                    if (value instanceof Map<?, ?> extra && !extra.isEmpty()) {
                        problems.add(path + ": unknown field(s) " + extra.keySet());
                    }
                } else {
                    unknownFields(value, path + "." + Character.toLowerCase(getter.getName().charAt(3)) + getter.getName().substring(4),
                            problems);
                }
            } catch (ReflectiveOperationException e) {
                problems.add(path + ": " + e);
            }
        }
    }

    static void targets(String where, String kind, String name, Map<String, Deployment> deployments, List<String> problems) {
        if (!"Deployment".equals(kind) || deployments.values().stream().noneMatch(d -> d.getMetadata().getName().equals(name))) {
            problems.add(where + ": scales " + kind + "/" + name + ", which no manifest here defines");
        }
    }

    static void exported(String where, String metric, Set<String> metricNames, List<String> problems) {
        if (!metricNames.contains(metric)) {
            problems.add(where + ": metric " + metric + " is not in /actuator/prometheus");
        }
    }

    /** Every igate metric a PromQL query names. */
    static void queried(String where, String query, Set<String> metricNames, List<String> problems) {
        Matcher m = Pattern.compile("\\bigate_[a-z0-9_]+").matcher(query);
        boolean any = false;
        while (m.find()) {
            any = true;
            exported(where, m.group(), metricNames, problems);
        }
        if (!any) {
            problems.add(where + ": query " + query + " names no igate metric");
        }
    }

    void checkService(Manifest m, Map<String, Deployment> deployments, List<String> problems) {
        Service service = K8S.unmarshal(m.node().toString());
        Map<String, String> selector = service.getSpec().getSelector();
        Deployment target = deployments.values().stream().filter(d -> d.getSpec().getTemplate().getMetadata().getLabels().entrySet()
                .containsAll(selector.entrySet())).findFirst().orElse(null);
        if (target == null) {
            problems.add(m.where() + ": its selector " + selector + " matches no Deployment's pods");
            return;
        }
        Set<String> named = new HashSet<>();
        target.getSpec().getTemplate().getSpec().getContainers().forEach(c -> c.getPorts().forEach(p -> named.add(p.getName())));
        for (ServicePort port : service.getSpec().getPorts()) {
            IntOrString t = port.getTargetPort();
            if (t != null && t.getStrVal() != null && !named.contains(t.getStrVal())) {
                problems.add(m.where() + ": targetPort " + t.getStrVal() + " is no port of " + target.getMetadata().getName());
            }
        }
    }

    void checkAdapterRules(Manifest m, Set<String> metricNames, List<Manifest> manifests, List<String> problems) throws IOException {
        JsonNode config = m.node().path("data").path("config.yaml");
        if (config.isMissingNode()) {
            return;
        }
        JsonNode rules = YAML.readTree(config.asText()).path("rules");
        Set<String> served = new HashSet<>();
        for (JsonNode rule : rules) {
            queried(m.where() + " rule", rule.path("seriesQuery").asText(), metricNames, problems);
            queried(m.where() + " rule", rule.path("metricsQuery").asText(), metricNames, problems);
            served.add(rule.path("name").path("as").asText());
        }
        // every custom metric an HPA asks for is one these rules serve
        for (Manifest hpa : manifests) {
            if (hpa.kind().equals("HorizontalPodAutoscaler")) {
                for (JsonNode metric : hpa.node().path("spec").path("metrics")) {
                    String name = metric.path("pods").path("metric").path("name").asText(null);
                    if (name != null && !served.contains(name)) {
                        problems.add(hpa.where() + ": metric " + name + " is served by no Prometheus Adapter rule (" + m.where() + ")");
                    }
                }
            }
        }
    }

    void checkScaledObject(Manifest m, Map<String, Deployment> deployments, Set<String> metricNames, List<String> problems) {
        JsonNode spec = m.node().path("spec");
        if (!m.node().path("apiVersion").asText().equals("keda.sh/v1alpha1")) {
            problems.add(m.where() + ": apiVersion is not keda.sh/v1alpha1");
        }
        String target = spec.path("scaleTargetRef").path("name").asText("");
        if (target.isEmpty()) {
            problems.add(m.where() + ": spec.scaleTargetRef.name is required");
        } else {
            targets(m.where(), spec.path("scaleTargetRef").path("kind").asText("Deployment"), target, deployments, problems);
        }
        if (!spec.path("triggers").isArray() || spec.path("triggers").isEmpty()) {
            problems.add(m.where() + ": spec.triggers is required");
        }
        for (JsonNode trigger : spec.path("triggers")) {
            if (trigger.path("type").asText("").isEmpty()) {
                problems.add(m.where() + ": a trigger without type");
            }
            if (trigger.path("type").asText().equals("prometheus")) {
                for (String field : List.of("serverAddress", "query", "threshold")) {
                    if (trigger.path("metadata").path(field).asText("").isEmpty()) {
                        problems.add(m.where() + ": a prometheus trigger needs metadata." + field);
                    }
                }
                queried(m.where(), trigger.path("metadata").path("query").asText(), metricNames, problems);
            }
        }
    }

    void checkInferenceService(Manifest m, Map<String, ConfigMap> configMaps, List<String> problems) {
        if (!m.node().path("apiVersion").asText().equals("serving.kserve.io/v1beta1")) {
            problems.add(m.where() + ": apiVersion is not serving.kserve.io/v1beta1");
        }
        if (m.name().isEmpty()) {
            problems.add(m.where() + ": metadata.name is required");
        }
        JsonNode spec = m.node().path("spec");
        if (spec.path("predictor").isMissingNode()) {
            problems.add(m.where() + ": spec.predictor is required");
        }
        spec.fieldNames().forEachRemaining(component -> {
            if (!Set.of("predictor", "transformer", "explainer").contains(component)) {
                problems.add(m.where() + ": spec." + component + " is no InferenceService component");
                return;
            }
            JsonNode c = spec.path(component);
            c.fieldNames().forEachRemaining(field -> {
                if (!COMPONENT_FIELDS.contains(field)) {
                    problems.add(m.where() + ": spec." + component + "." + field + " is not a field of an InferenceService component");
                }
            });
            String metric = c.path("scaleMetric").asText(null);
            if (metric != null && !Set.of("cpu", "memory", "concurrency", "rps").contains(metric)) {
                problems.add(m.where() + ": spec." + component + ".scaleMetric " + metric + " is not one KServe knows");
            }
            if (!c.path("containers").isArray() && c.path("model").isMissingNode()) {
                problems.add(m.where() + ": spec." + component + " needs containers or a model");
            }
            int i = 0;
            for (JsonNode container : c.path("containers")) {
                Container typed = K8S.convertValue(container, Container.class);
                String where = m.where() + " spec." + component + ".containers[" + i++ + "]";
                unknownFields(typed, where, problems);
                checkContainer(where, typed, Map.of(), configMaps, problems);
            }
        });
    }

    // ---------------------------------------------------------------- containers against the application

    /** The Dockerfile's CMD and the configuration's placeholders, read once for every container checked. */
    static final List<String> IMAGE_COMMAND;
    static final Set<String> PLACEHOLDERS;

    static {
        try {
            IMAGE_COMMAND = imageCommand();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        PLACEHOLDERS = placeholders();
    }

    /** The Dockerfile's CMD, which the manifests' args repeat (args replace it). */
    static List<String> imageCommand() throws IOException {
        for (String line : Files.readAllLines(ROOT.resolve("Dockerfile"))) {
            if (line.startsWith("CMD ")) {
                return List.of(YAML.readValue(line.substring(4), String[].class));
            }
        }
        throw new IllegalStateException("the Dockerfile has no CMD");
    }

    void checkContainer(String where, Container c, Map<String, String> podAnnotations, Map<String, ConfigMap> configMaps,
                        List<String> problems) {
        if (!c.getImage().startsWith("igate:")) {
            problems.add(where + ": image " + c.getImage() + " is not igate's");
        }
        List<String> args = c.getArgs() == null ? List.of() : c.getArgs();
        List<String> command = IMAGE_COMMAND;
        if (args.size() < command.size() || !args.subList(0, command.size()).equals(command)) {
            problems.add(where + ": args do not start with the image's command " + command);
        }
        String profile = "default";
        Integer port = null;
        for (String arg : args.subList(Math.min(command.size(), args.size()), args.size())) {
            if (!arg.startsWith("--") || !arg.contains("=")) {
                problems.add(where + ": argument " + arg + " is not --name=value");
                continue;
            }
            String key = arg.substring(2, arg.indexOf('='));
            String value = arg.substring(arg.indexOf('=') + 1);
            if (key.equals("spring.profiles.active")) {
                profile = value;
                if (!Files.isRegularFile(ROOT.resolve("application-" + value + ".yml"))) {
                    problems.add(where + ": profile " + value + " has no application-" + value + ".yml");
                }
            } else if (key.equals("server.port")) {
                port = Integer.valueOf(value);
            } else if (key.startsWith("igate.")) {
                String why = igateProperty(key.substring("igate.".length()), IgateProperties.class);
                if (why != null) {
                    problems.add(where + ": option --" + key + ": " + why);
                }
            } else if (!key.startsWith("spring.") && !key.startsWith("management.") && !key.startsWith("logging.")) {
                problems.add(where + ": option --" + key + " is not one igate reads");
            }
        }
        int http = port != null ? port : profilePort(profile);
        Map<String, Integer> named = new HashMap<>();
        Set<Integer> declared = new HashSet<>();
        for (ContainerPort p : c.getPorts()) {
            declared.add(p.getContainerPort());
            if (p.getName() != null) {
                named.put(p.getName(), p.getContainerPort());
            }
        }
        if (!declared.contains(http)) {
            problems.add(where + ": the server listens on " + http + ", which no containerPort declares");
        }
        Map<String, Probe> probes = new LinkedHashMap<>();
        probes.put("startupProbe", c.getStartupProbe());
        probes.put("readinessProbe", c.getReadinessProbe());
        probes.put("livenessProbe", c.getLivenessProbe());
        probes.forEach((kind, probe) -> {
            if (probe == null || probe.getHttpGet() == null) {
                problems.add(where + ": no " + kind + " (httpGet)");
                return;
            }
            IntOrString p = probe.getHttpGet().getPort();
            Integer number = p.getIntVal() != null ? p.getIntVal() : named.get(p.getStrVal());
            if (number == null || number != http) {
                problems.add(where + ": " + kind + " asks port " + (p.getIntVal() != null ? p.getIntVal() : p.getStrVal())
                        + ", the server listens on " + http);
            }
            if (!serves(probe.getHttpGet().getPath())) {
                problems.add(where + ": " + kind + " path " + probe.getHttpGet().getPath() + " does not answer 200");
            }
        });
        if (podAnnotations != null && podAnnotations.containsKey("prometheus.io/port")) {
            if (!String.valueOf(http).equals(podAnnotations.get("prometheus.io/port"))) {
                problems.add(where + ": prometheus.io/port " + podAnnotations.get("prometheus.io/port") + ", the server listens on " + http);
            }
            if (!serves(podAnnotations.getOrDefault("prometheus.io/path", "/metrics"))) {
                problems.add(where + ": prometheus.io/path " + podAnnotations.get("prometheus.io/path") + " does not answer 200");
            }
        }
        List<String> variables = new ArrayList<>();
        (c.getEnv() == null ? List.<EnvVar>of() : c.getEnv()).forEach(e -> variables.add(e.getName()));
        for (EnvFromSource from : c.getEnvFrom() == null ? List.<EnvFromSource>of() : c.getEnvFrom()) {
            if (from.getConfigMapRef() != null) {
                ConfigMap map = configMaps.get(from.getConfigMapRef().getName());
                if (map == null) {
                    problems.add(where + ": envFrom ConfigMap " + from.getConfigMapRef().getName() + " is in no manifest here");
                } else {
                    variables.addAll(map.getData().keySet());
                }
            }
        }
        for (String variable : variables) {
            if (!EXTERNAL_VARIABLES.contains(variable) && !PLACEHOLDERS.contains(variable) && !bindsToIgate(variable)) {
                problems.add(where + ": environment variable " + variable + " is read by no application*.yml placeholder or igate property");
            }
        }
    }

    /** The HTTP port a profile listens on: its application-<profile>.yml's server.port (a placeholder's default), else 8080. */
    static int profilePort(String profile) {
        try {
            Path file = ROOT.resolve(profile.equals("default") ? "application.yml" : "application-" + profile + ".yml");
            String port = Files.isRegularFile(file) ? YAML.readTree(file.toFile()).path("server").path("port").asText("8080") : "8080";
            Matcher m = Pattern.compile("\\$\\{[A-Z_]+:(\\d+)}").matcher(port);
            return Integer.parseInt(m.matches() ? m.group(1) : port);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The variables the configuration files read through placeholders (${NAME} or ${NAME:default}). */
    static Set<String> placeholders() {
        Set<String> names = new HashSet<>();
        Matcher m = Pattern.compile("\\$\\{([A-Z][A-Z0-9_]*)").matcher("");
        try (Stream<Path> files = Stream.concat(Files.list(ROOT), Files.list(ROOT.resolve("gateway/src/main/resources")))) {
            for (Path f : files.filter(p -> p.getFileName().toString().matches("application.*\\.yml")).toList()) {
                m.reset(Files.readString(f));
                while (m.find()) {
                    names.add(m.group(1));
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return names;
    }

    /** Whether Spring's relaxed binding takes the variable (IGATE_ADMIN_TOKEN) to a property of igate's configuration. */
    static boolean bindsToIgate(String variable) {
        if (!variable.startsWith("IGATE_")) {
            return false;
        }
        StandardEnvironment environment = new StandardEnvironment();
        environment.getPropertySources().addFirst(new SystemEnvironmentPropertySource("systemEnvironment", Map.of(variable, "x")));
        ConfigurationPropertySources.attach(environment);
        Binder binder = Binder.get(environment);
        for (RecordComponent component : IgateProperties.class.getRecordComponents()) {
            String property = "igate." + kebab(component.getName());
            if (binder.bind(property, Bindable.of(String.class)).map("x"::equals).orElse(false)) {
                return true;
            }
        }
        return false;
    }

    static String kebab(String camel) {
        return camel.replaceAll("([a-z0-9])([A-Z])", "$1-$2").toLowerCase();
    }

    /** Why {@code igate.<path>} is not a property of the record {@code type} (kebab-case components, maps by key), or null. */
    static String igateProperty(String path, Class<?> type) {
        String[] parts = path.split("\\.", 2);
        for (RecordComponent component : type.getRecordComponents()) {
            if (!kebab(component.getName()).equals(parts[0])) {
                continue;
            }
            Type generic = component.getGenericType();
            Class<?> raw = component.getType();
            if (parts.length == 1) {
                return raw.isRecord() || Map.class.isAssignableFrom(raw) ? parts[0] + " is a group, not a value" : null;
            }
            if (Map.class.isAssignableFrom(raw) && generic instanceof ParameterizedType p && p.getActualTypeArguments()[1] instanceof Class<?> value) {
                String[] keyAndRest = parts[1].split("\\.", 2);
                if (!value.isRecord()) {
                    return keyAndRest.length == 1 ? null : parts[0] + " holds values, not groups";
                }
                return keyAndRest.length == 1 ? parts[1] + " is a group, not a value" : igateProperty(keyAndRest[1], value);
            }
            return raw.isRecord() ? igateProperty(parts[1], raw) : parts[0] + " is a value, not a group";
        }
        return parts[0] + " is not a property of " + type.getSimpleName();
    }

    // ---------------------------------------------------------------- the tests

    @Test
    void everyManifestParsesAndFitsTheApplication() throws Exception {
        List<Manifest> manifests = load();
        assertThat(manifests).extracting(Manifest::kind).contains("Deployment", "Service", "HorizontalPodAutoscaler",
                "PodDisruptionBudget", "InferenceService", "ScaledObject");

        assertThat(problems(manifests, metrics())).isEmpty();
    }

    /** A copy of the manifests with one change made to the first document of a kind and name. */
    static List<Manifest> changed(List<Manifest> manifests, String file, String kind, Consumer<ObjectNode> change) {
        List<Manifest> out = new ArrayList<>();
        boolean done = false;
        for (Manifest m : manifests) {
            JsonNode copy = m.node().deepCopy();
            if (!done && m.file().endsWith(file) && m.kind().equals(kind)) {
                change.accept((ObjectNode) copy);
                done = true;
            }
            out.add(new Manifest(m.file(), copy));
        }
        assertThat(done).as(file + " has a " + kind).isTrue();
        return out;
    }

    static ObjectNode container(ObjectNode deployment) {
        return (ObjectNode) deployment.path("spec").path("template").path("spec").path("containers").get(0);
    }

    @Test
    void aManifestThatDriftsFromTheApplicationFails() throws Exception {
        List<Manifest> manifests = load();
        String metrics = metrics();

        // a metric renamed on one side only
        assertThat(problems(changed(manifests, "autoscaling.yaml", "HorizontalPodAutoscaler", hpa -> ((ObjectNode) hpa.path("spec")
                .path("metrics").get(0).path("pods").path("metric")).put("name", "igate_concurrent_requests")), metrics))
                .anyMatch(p -> p.contains("igate_concurrent_requests is not in /actuator/prometheus"))
                .anyMatch(p -> p.contains("served by no Prometheus Adapter rule"));
        // a probe path that the server does not serve
        assertThat(problems(changed(manifests, "igate.yaml", "Deployment", d -> ((ObjectNode) container(d).path("readinessProbe")
                .path("httpGet")).put("path", "/actuator/health/ready")), metrics))
                .anyMatch(p -> p.contains("readinessProbe path /actuator/health/ready does not answer 200"));
        // a port: the predictor's listens on 8081 (application-predictor.yml), not on what the manifest now declares
        assertThat(problems(changed(manifests, "igate.yaml", "Deployment", d -> ((ObjectNode) container(d).path("ports").get(0))
                .put("containerPort", 8083)), metrics))
                .anyMatch(p -> p.contains("the server listens on 8081, which no containerPort declares"));
        // a variable the application does not read
        assertThat(problems(changed(manifests, "igate.yaml", "ConfigMap", c -> {
            ObjectNode data = (ObjectNode) c.path("data");
            data.set("PREDICTOR_ADDRESS", data.remove("PREDICTOR_URL"));
        }), metrics)).anyMatch(p -> p.contains("environment variable PREDICTOR_ADDRESS is read by no"));
        // an option renamed in the application (or misspelt in the manifest), and a profile that does not exist
        assertThat(problems(changed(manifests, "igate.yaml", "Deployment", d -> {
            ArrayNode args = (ArrayNode) container(d).path("args");
            args.set(4, new TextNode("--igate.model-repo=/models"));
            args.set(3, new TextNode("--spring.profiles.active=predictr"));
        }), metrics)).anyMatch(p -> p.contains("option --igate.model-repo: model-repo is not a property of IgateProperties"))
                .anyMatch(p -> p.contains("profile predictr has no application-predictr.yml"));
        // a field Kubernetes does not know, in a core object and in a custom resource
        assertThat(problems(changed(manifests, "autoscaling.yaml", "PodDisruptionBudget", pdb -> ((ObjectNode) pdb.path("spec"))
                .put("minAvailible", 1)), metrics)).anyMatch(p -> p.contains("unknown field(s) [minAvailible]"));
        assertThat(problems(changed(manifests, "inferenceservice.yaml", "InferenceService", is -> ((ObjectNode) is.path("spec")
                .path("predictor")).put("scaleTargets", 16)), metrics))
                .anyMatch(p -> p.contains("spec.predictor.scaleTargets is not a field of an InferenceService component"));
        assertThat(problems(changed(manifests, "keda-scaledobject.yaml", "ScaledObject", so -> ((ObjectNode) so.path("spec")
                .path("triggers").get(0).path("metadata")).remove("threshold")), metrics))
                .anyMatch(p -> p.contains("a prometheus trigger needs metadata.threshold"));
    }
}
