package dev.igate.gateway.model;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import dev.igate.gateway.IgateProperties;
import dev.igate.predictor.ModelLoadException;
import dev.igate.predictor.ModelRepository;
import dev.igate.predictor.ModelSettingsFile;
import dev.igate.protocol.LoadFailedException;
import dev.igate.protocol.ModelMetadata;
import dev.igate.protocol.ModelNotFoundException;
import dev.igate.protocol.ModelNotReadyException;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.availability.AvailabilityChangeEvent;
import org.springframework.boot.availability.ReadinessState;
import org.springframework.context.SmartLifecycle;
import org.springframework.context.event.EventListener;
import org.springframework.stereotype.Component;

/**
 * Every model version in the repository and where it stands. Loading happens on a background
 * thread after startup, so the server is live at once and ready when every version has loaded
 * and answered a warm-up inference. A version that fails to load is FAILED with its reason;
 * the others serve.
 */
@Component
public class ModelRegistry implements SmartLifecycle {

    private static final Logger log = LoggerFactory.getLogger(ModelRegistry.class);

    /** One model: its versions' states and the version unversioned requests go to. */
    record Entry(String name, String defaultVersion, Map<String, VersionState> versions, ModelSettingsFile file) {
    }

    private final IgateProperties properties;
    private final ModelRepository repository;
    private final Map<String, Entry> entries = new ConcurrentHashMap<>();
    private volatile boolean scanned;
    private volatile String scanFailure;
    /** Set once the application context starts closing (SIGTERM): the server is no longer ready, while accepted work drains. */
    private volatile boolean draining;
    /** Set once the start-up load has tried every model: the repository poller waits for it. */
    private volatile boolean startupFinished;
    /**
     * The repository fingerprint of each model's folder as it was when its files were last read
     * (start-up, load, reload): a poll reloads a model whose folder no longer matches it.
     */
    private final Map<String, String> fingerprints = new ConcurrentHashMap<>();
    /** Models an operator unloaded: polling leaves them unloaded until an explicit load. */
    private final java.util.Set<String> held = ConcurrentHashMap.newKeySet();
    /** Held while a model's versions load or its entry is replaced (start-up, reload, unload): blocking, never on an event loop. */
    private final Object loads = new Object();
    private volatile boolean running;
    /** The start-up load's thread. */
    private volatile Thread startup;

    private final MeterRegistry meters;
    private final VersionLoader loader;
    private final VersionViews views;
    private final StorageFetch storage;

    public ModelRegistry(IgateProperties properties, MeterRegistry meters) {
        this(properties, meters, dev.igate.gateway.tracing.Tracing.off());
    }

    @org.springframework.beans.factory.annotation.Autowired
    public ModelRegistry(IgateProperties properties, MeterRegistry meters, dev.igate.gateway.tracing.Tracing tracing) {
        this.meters = meters;
        this.properties = properties;
        this.repository = new ModelRepository(properties.modelRepository());
        this.loader = new VersionLoader(properties, repository, meters, tracing);
        this.views = new VersionViews(meters);
        this.storage = new StorageFetch(properties, repository, meters, tracing);
    }

    public ModelRepository repository() {
        return repository;
    }

    @Override
    public void start() {
        running = true;
        startupFinished = false;
        startup = new Thread(this::loadAll, "model-loader");
        startup.setDaemon(true);
        startup.start();
    }

    /**
     * Retires every model and forgets them, so that a later {@link #start()} (Spring's test
     * framework pauses and resumes cached contexts) reads the repository afresh instead of finding
     * closed versions.
     */
    @Override
    public void stop() {
        running = false;
        if (startup != null) {
            startup.interrupt();
        }
        log.info("Stopping: letting queued and running inference finish, then closing the models");
        List<Entry> retiring;
        synchronized (loads) {
            retiring = new ArrayList<>(entries.values());
            entries.clear();
            fingerprints.clear();
            held.clear();
            scanned = false;
            scanFailure = null;
            startupFinished = false;
            retiring.forEach(e -> publish(null, e));
        }
        retiring.forEach(this::retire);
        storage.close();
    }

    @Override
    public boolean isRunning() {
        return running;
    }

    /**
     * Readiness goes the moment the context starts closing, before the web server's drain: a
     * client or load balancer that keeps a connection open (and so is not refused new connections)
     * reads not-ready on it, while the requests it already sent are answered.
     */
    @EventListener
    public void onReadiness(AvailabilityChangeEvent<ReadinessState> event) {
        draining = event.getState() == ReadinessState.REFUSING_TRAFFIC;
    }

    /**
     * Stops after the web server's graceful shutdown (which waits for in-flight requests), so
     * models and batchers serve every request that was accepted before they close.
     */
    @Override
    public int getPhase() {
        return SmartLifecycle.DEFAULT_PHASE - 4096;
    }

    /** The last fetch or reload that failed, by "model/storage" and "model/reload", until one succeeds; in health details. */
    private final Map<String, String> problems = new ConcurrentHashMap<>();

    /**
     * Fetches every model that names a storage URI into the repository (its folder replaced only
     * once the new files are complete); a failure is logged with its reason, counted and in health
     * details, and the model's previous files, if any, keep serving. Blocking.
     */
    public void fetchStorage() {
        storage.fetchAll(new StorageFetch.Problems() {
            @Override
            public void failed(String model, String reason) {
                problems.put(model + "/storage", reason);
            }

            @Override
            public void fetched(String model) {
                problems.remove(model + "/storage");
            }
        });
    }

    private void loadAll() {
        try {
            loader.removeStalePins();
            if (properties.demoModels()) {
                for (dev.igate.predictor.RepositorySeed seed : java.util.ServiceLoader.load(dev.igate.predictor.RepositorySeed.class)) {
                    if (!seed.taskModels() || properties.demoTaskModels()) {
                        seed.ensure(repository.root());
                    }
                }
            }
            fetchStorage();
            List<String> names = repository.modelNames();
            for (String name : names) {
                synchronized (loads) {
                    // an admin load that came first has put (and loaded) an entry of its own: it stays
                    if (!entries.containsKey(name)) {
                        fingerprints.put(name, repository.fingerprint(name));
                        entries.put(name, newEntry(name));
                    }
                }
            }
            scanned = true;
            log.info("Model repository {}: {}", repository.root(), names.isEmpty() ? "no models" : names);
            for (String name : names) {
                if (!running) {
                    return;
                }
                // one load of a model at a time: an admin reload or unload meanwhile has replaced or
                // removed this entry, and loading it now would leak what it loads
                synchronized (loads) {
                    Entry entry = entries.get(name);
                    if (entry != null && entry.versions().values().stream().allMatch(v -> v == VersionState.LOADING)) {
                        loadVersions(entry);
                        // a newest version that failed leaves the newest one that loaded answering, as on a reload
                        Entry serving = servingDefault(entry);
                        entries.put(name, serving);
                        publish(serving, null);
                    }
                }
            }
        } catch (IOException | ModelLoadException | RuntimeException e) {
            scanFailure = PublicReasons.of(String.valueOf(e.getMessage()), repository.root());
            scanned = true;
            log.warn("Model repository {} could not be prepared", repository.root(), e);
        } catch (OutOfMemoryError e) {
            // building the demo models (or reading the repository) took more heap than the server has: the loader
            // ends with the reason in readiness instead of dying and leaving the start-up load unfinished for ever
            scanFailure = "Java ran out of memory preparing the model repository" + (properties.demoModels() ? " (building the demo models)" : "")
                    + " (" + e.getMessage() + "; heap limit " + Runtime.getRuntime().maxMemory() / (1 << 20)
                    + " MB): give the server a larger -Xmx";
            scanned = true;
            log.warn("Model repository {} could not be prepared: {}", repository.root(), scanFailure);
        } finally {
            // a loader that a stop left behind must not mark the next start's load as finished
            if (Thread.currentThread() == startup) {
                startupFinished = true;
            }
        }
    }

    /** Whether the start-up load has tried every model of the repository (the poller starts after it). */
    public boolean startupFinished() {
        return startupFinished;
    }

    /** The repository fingerprint a loaded model's files were read at, or null when it is not loaded. */
    String loadedFingerprint(String name) {
        return entries.containsKey(name) ? fingerprints.get(name) : null;
    }

    /** Whether an operator unloaded the model (polling leaves it unloaded until an explicit load). */
    boolean heldUnloaded(String name) {
        return held.contains(name);
    }

    /** Reads a model's folder: its versions (all LOADING), settings file and default version. */
    private Entry newEntry(String name) throws IOException {
        ModelSettingsFile file;
        try {
            file = ModelSettingsFile.read(repository.modelDir(name).resolve(ModelRepository.SETTINGS_FILE));
        } catch (ModelLoadException e) {
            log.warn("Model {}: {}; using defaults", name, e.getMessage());
            file = ModelSettingsFile.EMPTY;
        }
        List<String> versions = dev.igate.predictor.VersionPolicy.parse(properties.forModel(name).versionPolicy())
                .select(repository.versions(name));
        if (versions.isEmpty()) {
            throw ModelNotFoundException.model(name);
        }
        Map<String, VersionState> states = new ConcurrentHashMap<>();
        versions.forEach(v -> states.put(v, VersionState.LOADING));
        String latest = versions.get(versions.size() - 1);
        String defaultVersion = VersionLoader.firstNonNull(properties.forModel(name).defaultVersion(), file.defaultVersion(), latest);
        if (!versions.contains(defaultVersion)) {
            log.warn("Model {}: default version {} is not in the repository, using {}", name, defaultVersion, latest);
            defaultVersion = latest;
        }
        return new Entry(name, defaultVersion, states, file);
    }

    private void loadVersions(Entry entry) {
        for (String version : List.copyOf(entry.versions().keySet())) {
            entry.versions().put(version, loader.load(entry.name(), version, entry.file()));
        }
    }

    /** Shows the serving versions of {@code fresh} (null for an unload) in place of those of {@code old} (null at start-up). */
    private void publish(Entry fresh, Entry old) {
        views.publish(fresh != null ? fresh.name() : old.name(), fresh == null ? null : fresh.versions(), old == null ? null : old.versions());
    }

    /**
     * Loads a model from the repository, or reloads it, at an operator's request: the new versions
     * load beside the old ones, take over in one step when loaded, and the old ones then finish
     * their queued work and close. An earlier explicit unload no longer holds the model unloaded.
     * Blocking: call it off the event loop.
     *
     * @return every version's state after the load
     * @throws ModelNotFoundException when the repository has no such model
     * @throws LoadFailedException    when a version failed to load (what loaded serves; when nothing
     *                                did, the versions serving before keep serving)
     */
    public Map<String, Object> reload(String name) throws IOException {
        return reload(name, true);
    }

    /**
     * As {@link #reload(String)}, an int8 version ({@code quantize: int8}) checked on these
     * calibration texts instead of its calibration.txt (none: null).
     */
    public Map<String, Object> reload(String name, List<String> calibration) throws IOException {
        if (calibration == null) {
            return reload(name, true);
        }
        try {
            return loader.withCalibration(name, calibration, () -> reload(name, true));
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A repository poll's load or reload of a model whose files changed or appeared; nothing for a
     * model an operator unloaded.
     *
     * @throws LoadFailedException as {@link #reload(String)}
     */
    void pollReload(String name) throws IOException {
        reload(name, false);
    }

    private Map<String, Object> reload(String name, boolean explicit) throws IOException {
        Entry fresh;
        Entry old;
        synchronized (loads) {
            if (explicit) {
                held.remove(name);
            } else if (held.contains(name)) {
                return Map.of();
            }
            // read before the files are: a change while they load is seen by the next poll
            String fingerprint = repository.fingerprint(name);
            fresh = servingDefault(loaded(name));
            fingerprints.put(name, fingerprint);
            Entry current = entries.get(name);
            boolean freshServes = fresh.versions().values().stream().anyMatch(VersionState::isReady);
            if (!freshServes && current != null && current.versions().values().stream().anyMatch(VersionState::isReady)) {
                // every version the policy picks failed (latest:1 and a corrupt new version): the serving ones stay
                log.warn("Model {}: no version of the reload loaded ({}); the versions serving now keep serving", name, fresh.versions());
                meters.counter("igate.model.reload.failures", "model_name", name).increment();
                String failures = failures(fresh);
                problems.put(name + "/reload", "reload failed, the serving versions kept: " + failures);
                throw new LoadFailedException("Model " + name + " failed to load (" + failures + "); the versions serving before keep serving");
            }
            old = entries.put(name, fresh);
            publish(fresh, old);
        }
        if (fresh.versions().values().stream().noneMatch(v -> v.status() == VersionState.Status.FAILED)) {
            problems.remove(name + "/reload");
        }
        log.info("Model {} {}: {}", name, old == null ? "loaded" : "reloaded", describe().get(name));
        if (old != null) {
            retire(old);
        }
        if (fresh.versions().values().stream().anyMatch(v -> v.status() == VersionState.Status.FAILED)) {
            throw new LoadFailedException("Model " + name + " failed to load (" + failures(fresh) + ")"
                    + (freshServesAny(fresh) ? "; the versions that loaded serve" : ""));
        }
        return Map.of(name, describe().get(name));
    }

    private static boolean freshServesAny(Entry entry) {
        return entry.versions().values().stream().anyMatch(VersionState::isReady);
    }

    /** The failed versions of an entry and why: "version 3 FAILED: reason; ...". */
    private static String failures(Entry entry) {
        return new java.util.TreeMap<>(entry.versions()).entrySet().stream().filter(v -> v.getValue().status() == VersionState.Status.FAILED)
                .map(v -> "version " + v.getKey() + " FAILED" + (v.getValue().reason() == null ? "" : ": " + v.getValue().reason()))
                .collect(java.util.stream.Collectors.joining("; "));
    }

    private Entry loaded(String name) throws IOException {
        Entry fresh = newEntry(name);
        loadVersions(fresh);
        return fresh;
    }

    /**
     * The entry with a default version that serves: when the one chosen (the latest, say a new
     * version whose files are corrupt or half copied) failed to load, the newest version that did
     * load keeps answering, so a bad version never replaces a good one.
     */
    private Entry servingDefault(Entry entry) {
        VersionState chosen = entry.versions().get(entry.defaultVersion());
        if (chosen != null && chosen.status() != VersionState.Status.FAILED) {
            return entry;
        }
        String ready = entry.versions().entrySet().stream().filter(e -> e.getValue().isReady()).map(Map.Entry::getKey)
                .max(java.util.Comparator.comparingLong(Long::parseLong)).orElse(null);
        if (ready == null) {
            return entry;
        }
        log.warn("Model {}: version {} failed to load ({}); version {} keeps serving", entry.name(), entry.defaultVersion(),
                chosen == null ? "missing" : chosen.reason(), ready);
        meters.counter("igate.model.reload.failures", "model_name", entry.name()).increment();
        problems.put(entry.name() + "/reload", "version " + entry.defaultVersion() + " failed to load, version " + ready + " kept serving: "
                + (chosen == null ? "missing" : chosen.reason()));
        return new Entry(entry.name(), ready, entry.versions(), entry.file());
    }

    /**
     * Unloads a model at an operator's request: new requests get 404 at once, queued ones finish,
     * then its sessions close. Repository polling leaves it unloaded until an explicit load.
     *
     * @throws ModelNotFoundException when no such model is loaded
     */
    public void unload(String name) {
        unload(name, true);
    }

    /** A repository poll's unload of a model whose folder was removed. */
    void unloadRemoved(String name) {
        unload(name, false);
    }

    private void unload(String name, boolean explicit) {
        Entry old;
        synchronized (loads) {
            old = entries.remove(entry(name).name());
            fingerprints.remove(name);
            if (explicit) {
                held.add(name);
            }
            if (old != null) {
                // the queue-depth gauges read the closed versions: an unloaded model has none
                publish(null, old);
            }
        }
        if (old != null) {
            log.info("Model {} unloaded", name);
            retire(old);
        }
    }

    /** Who is told of a loaded copy that was retired (reloaded or unloaded), once it drained and closed. */
    private final List<java.util.function.Consumer<ServedModel>> retiredListeners = new java.util.concurrent.CopyOnWriteArrayList<>();

    /** Tells {@code listener} of each loaded copy retired from now on (a reload's replaced copy, an unloaded model's). */
    public void onRetired(java.util.function.Consumer<ServedModel> listener) {
        retiredListeners.add(listener);
    }

    private void retire(Entry entry) {
        for (VersionState s : entry.versions().values()) {
            if (s.model() != null) {
                s.model().drainAndClose(java.time.Duration.ofSeconds(30));
                retiredListeners.forEach(l -> l.accept(s.model()));
            }
        }
        NativeMemory.release();
    }

    /**
     * Triton's statistics of the loaded versions: every model's with no name, every version of a
     * model with no version.
     *
     * @throws ModelNotFoundException for a model or version that is not loaded
     */
    public List<TritonStatistics> statistics(String name, String version) {
        return name == null ? views.all() : views.of(name, entry(name).versions().keySet(), version);
    }

    /** Triton's statistics of one loaded version, or null. */
    public TritonStatistics statisticsOf(String name, String version) {
        return views.of(name, version);
    }

    /**
     * Triton's repository index: every model of the repository, loaded or not, each version with
     * its state (READY, LOADING, UNAVAILABLE) and the reason; with {@code readyOnly} the ready ones.
     */
    public List<TritonViews.IndexEntry> index(boolean readyOnly) throws IOException {
        java.util.TreeSet<String> names = new java.util.TreeSet<>(repository.modelNames());
        names.addAll(entries.keySet());
        List<TritonViews.IndexEntry> out = new ArrayList<>();
        for (String name : names) {
            Entry entry = entries.get(name);
            if (entry == null) {
                if (!readyOnly) {
                    out.add(new TritonViews.IndexEntry(name, null, "UNAVAILABLE", "unloaded"));
                }
                continue;
            }
            for (Map.Entry<String, VersionState> v : new java.util.TreeMap<>(entry.versions()).entrySet()) {
                VersionState s = v.getValue();
                String state = switch (s.status()) {
                    case READY -> "READY";
                    case LOADING -> "LOADING";
                    case FAILED -> "UNAVAILABLE";
                };
                if (!readyOnly || s.isReady()) {
                    out.add(new TritonViews.IndexEntry(name, v.getKey(), state, s.reason()));
                }
            }
        }
        return out;
    }

    /**
     * Texts that look like a model's traffic, for warming up: its default version's calibration
     * texts (calibration.txt), else none. Blocking.
     */
    public List<String> sampleTexts(String name) {
        try {
            return Int8Load.calibrationTexts(repository.versionDir(name, defaultVersion(name)));
        } catch (ModelLoadException | RuntimeException e) {
            return List.of();
        }
    }

    /** Names of the models in the repository, sorted. */
    public List<String> modelNames() {
        return entries.keySet().stream().sorted().toList();
    }

    /**
     * The loaded version that serves a request.
     *
     * @param version a version, or null for the model's default
     * @throws ModelNotFoundException when the model or version does not exist
     * @throws ModelNotReadyException when it exists but is loading or failed to load
     */
    public ServedModel resolve(String name, String version) {
        VersionState state = state(name, version);
        if (!state.isReady()) {
            throw state.status() == VersionState.Status.LOADING ? new ModelNotReadyException("Model " + name + " is loading")
                    : ModelNotReadyException.failed("Model " + name + " failed to load: " + state.reason());
        }
        return state.model();
    }

    /**
     * The state of a model version.
     *
     * @throws ModelNotFoundException when the model or version does not exist
     * @throws ModelNotReadyException while the repository is still being scanned
     */
    public VersionState state(String name, String version) {
        Entry entry = entry(name);
        String v = version == null ? entry.defaultVersion() : version;
        VersionState state = entry.versions().get(v);
        if (state == null) {
            throw ModelNotFoundException.version(name, v);
        }
        return state;
    }

    private Entry entry(String name) {
        // every name in the map is valid: only a name it lacks is checked (a regular expression, on every request otherwise)
        Entry entry = name == null ? null : entries.get(name);
        if (entry == null) {
            if (!ModelRepository.isValidModelName(name)) {
                throw new ModelNotFoundException("Invalid model name");
            }
            if (!scanned) {
                throw new ModelNotReadyException("The model repository is still being prepared");
            }
            throw ModelNotFoundException.model(name);
        }
        return entry;
    }

    /** Whether the model (and the version, when not null) exists; never throws, for any name. */
    public boolean knows(String name, String version) {
        Entry entry = name == null ? null : entries.get(name);
        return entry != null && (version == null || entry.versions().containsKey(version));
    }

    /** Versions of a model, in numeric order. */
    public List<String> versions(String name) {
        return entry(name).versions().keySet().stream().sorted((a, b) -> Long.compare(Long.parseLong(a), Long.parseLong(b))).toList();
    }

    public String defaultVersion(String name) {
        return entry(name).defaultVersion();
    }

    /**
     * Whether the server is ready (/v2/health/ready, readiness probe, gRPC ServerReady and health):
     * what it can serve, once start-up loading has finished. With {@code igate.strict-readiness}
     * (the default) every model must serve: its default version READY (a model none of whose
     * versions loaded keeps the server unready); a version that failed beside one that serves (a
     * corrupt upload picked up by polling, say) is reported in health details, metrics and that
     * version's readiness, not here, so one bad upload never takes every replica out of its Service.
     * Without, ready once loading has finished, whatever failed.
     */
    public boolean serverReady() {
        return !warmingUp && modelsLoaded();
    }

    /** Whether the serving path is being warmed up: readiness waits for it (see {@link #warmingUp}). */
    private volatile boolean warmingUp;

    /** Holds readiness while the serving path warms up ({@code true}), or releases it. */
    public void warmingUp(boolean warming) {
        this.warmingUp = warming;
    }

    /** {@link #serverReady()} but for a warm-up in progress: every model has finished loading (strict readiness: serves). */
    public boolean modelsLoaded() {
        boolean loaded = running && !draining && scanned && scanFailure == null && entries.values().stream()
                .allMatch(e -> e.versions().values().stream().noneMatch(v -> v.status() == VersionState.Status.LOADING));
        if (!loaded || !properties.strictReadiness()) {
            return loaded;
        }
        return entries.values().stream().allMatch(e -> {
            VersionState serving = e.versions().get(e.defaultVersion());
            return serving != null && serving.isReady();
        });
    }

    /** Status of every version, for health details: {@code {model: {version: "READY" | "FAILED: why"}}}. */
    public Map<String, Object> describe() {
        Map<String, Object> out = new LinkedHashMap<>();
        if (!scanned) {
            out.put("repository", "preparing");
        } else if (scanFailure != null) {
            out.put("repository", "failed: " + scanFailure);
        }
        for (String name : modelNames()) {
            Map<String, String> versions = new LinkedHashMap<>();
            for (String v : versions(name)) {
                VersionState s = entries.get(name).versions().get(v);
                versions.put(v, s.reason() == null ? s.status().name() : s.status() + ": " + s.reason());
            }
            out.put(name, versions);
        }
        if (!problems.isEmpty()) {
            out.put("problems", new java.util.TreeMap<>(problems));
        }
        return out;
    }

    /**
     * V2 metadata of a model version.
     *
     * @throws ModelNotFoundException when the model or version does not exist
     * @throws ModelNotReadyException when it is not loaded
     */
    public ModelMetadata metadata(String name, String version) {
        ServedModel model = resolve(name, version);
        Map<String, Object> parameters = new LinkedHashMap<>();
        parameters.put("version", model.version());
        parameters.put("default_version", defaultVersion(name));
        model.describe(parameters);
        if (model.task() != null) {
            parameters.put("labels", new ArrayList<>(model.task().labels()));
            parameters.put("task", model.task().problemType());
            // what else the model serves: pairs of texts (text_pair), zero-shot classification, reranking
            if (model.reading().pairs()) {
                parameters.put("pairs", true);
                if (model.reading().entailment() >= 0) {
                    parameters.put("zero_shot", true);
                }
                if (model.task().labels().size() == 1) {
                    parameters.put("rerank", true);
                }
            }
        }
        return new ModelMetadata(name, versions(name), model.platform(), model.inputs(), model.outputs(), parameters);
    }
}
