package dev.igate.predictor;

import java.io.IOException;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import dev.igate.protocol.ModelNotFoundException;

/**
 * A Triton-like model repository on disk: {@code <root>/<model>/<version>/model.onnx}, with the
 * HuggingFace files ({@code tokenizer.json}, {@code config.json}) beside each {@code model.onnx}
 * and an optional {@code <root>/<model>/model-settings.json}.
 *
 * <p>Names are checked before they touch the file system, so no request can reach outside the
 * root: model names are {@code [A-Za-z0-9][A-Za-z0-9_.-]*} without "..", versions are digits.
 */
public final class ModelRepository {

    public static final String MODEL_FILE = "model.onnx";
    public static final String TOKENIZER_FILE = "tokenizer.json";
    public static final String CONFIG_FILE = "config.json";
    public static final String SETTINGS_FILE = "model-settings.json";

    private static final Pattern MODEL_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,127}");
    private static final Pattern VERSION = Pattern.compile("[0-9]{1,9}");

    private final Path root;

    public ModelRepository(Path root) {
        this.root = root.toAbsolutePath().normalize();
    }

    public Path root() {
        return root;
    }

    public static boolean isValidModelName(String name) {
        return name != null && MODEL_NAME.matcher(name).matches() && !name.contains("..");
    }

    public static boolean isValidVersion(String version) {
        return version != null && VERSION.matcher(version).matches();
    }

    /** Models with at least one version holding a model.onnx, sorted by name. Blocking. */
    public List<String> modelNames() throws IOException {
        if (!Files.isDirectory(root)) {
            return List.of();
        }
        List<String> names = new ArrayList<>();
        try (Stream<Path> dirs = Files.list(root)) {
            for (Path dir : dirs.sorted().toList()) {
                String name = dir.getFileName().toString();
                if (Files.isDirectory(dir) && isValidModelName(name) && !versions(name).isEmpty()) {
                    names.add(name);
                }
            }
        }
        return names;
    }

    /** Version directories of a model holding a model.onnx, in numeric order. Blocking. */
    public List<String> versions(String model) throws IOException {
        Path dir = modelDir(model);
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.filter(Files::isDirectory)
                    .map(p -> p.getFileName().toString())
                    .filter(ModelRepository::isValidVersion)
                    .filter(v -> Files.isRegularFile(dir.resolve(v).resolve(MODEL_FILE)))
                    .sorted(Comparator.comparingLong(Long::parseLong))
                    .toList();
        }
    }

    /**
     * What a model's folder holds now: every file under it (its version folders and theirs,
     * through symbolic links, as a PVC or {@code file://} storage URI links the folder in) with its
     * size and modification time. Two calls agree exactly when no file was added, removed or
     * rewritten between them. Blocking.
     */
    public String fingerprint(String model) throws IOException {
        Path dir = modelDir(model);
        Map<String, String> files = new TreeMap<>();
        if (!Files.isDirectory(dir)) {
            return files.toString();
        }
        try (Stream<Path> walk = Files.walk(dir, 3, FileVisitOption.FOLLOW_LINKS)) {
            for (Path p : walk.filter(Files::isRegularFile).toList()) {
                files.put(dir.relativize(p).toString(), Files.size(p) + "@" + Files.getLastModifiedTime(p).toMillis());
            }
        }
        return files.toString();
    }

    /**
     * The folder of a model.
     *
     * @throws ModelNotFoundException when the name could escape the root or is not a valid model name
     */
    public Path modelDir(String model) {
        if (!isValidModelName(model)) {
            throw new ModelNotFoundException("Invalid model name");
        }
        return contained(root.resolve(model));
    }

    /**
     * The folder of one model version.
     *
     * @throws ModelNotFoundException when either name is invalid
     */
    public Path versionDir(String model, String version) {
        if (!isValidVersion(version)) {
            throw new ModelNotFoundException("Invalid version " + (version == null ? "" : "name"));
        }
        return contained(modelDir(model).resolve(version));
    }

    private Path contained(Path p) {
        Path normalized = p.normalize();
        if (!normalized.startsWith(root)) {
            throw new ModelNotFoundException("Invalid model path");
        }
        return normalized;
    }
}
