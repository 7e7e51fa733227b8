package dev.igate.predictor.storage;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;

import org.apache.commons.compress.archivers.ArchiveEntry;
import org.apache.commons.compress.archivers.ArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.zip.ZipArchiveEntry;
import org.apache.commons.compress.archivers.zip.ZipArchiveInputStream;

/**
 * A model's files from its storage URI into the repository, as KServe's storage initializer puts
 * them in /mnt/models: {@code file://} or a plain path (a PVC mount) is linked, an {@code http(s)://}
 * {@code .tar.gz}, {@code .tgz} or {@code .zip} archive is downloaded to a cache and unpacked. Under
 * the URI the repository layout holds ({@code <version>/model.onnx, tokenizer.json, config.json}).
 *
 * <p>Downloads are checked (the length the server declared, and its ETag and the archive's
 * SHA-256, kept beside the archive, so that a valid cached copy is reused after a restart with a
 * conditional request and not downloaded again, and the same bytes are not unpacked again). Archives unpack safely: an entry that would land outside the target
 * ({@code ..}, an absolute path), a link, or more than {@code maxBytes} in all is refused with the
 * reason. The model's folder is replaced in one step, only once its new files are complete, so a
 * failed fetch leaves the previous files serving.
 */
public final class ModelStorage {

    private final Path cache;
    private final long maxBytes;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10))
            .followRedirects(HttpClient.Redirect.NORMAL).build();

    /**
     * @param cache    where archives are kept between fetches and restarts
     * @param maxBytes most bytes an archive may unpack to
     */
    public ModelStorage(Path cache, long maxBytes) {
        this.cache = cache;
        this.maxBytes = maxBytes;
    }

    /** What a fetch did. */
    public enum Outcome { UNCHANGED, UPDATED }

    /**
     * Puts the model's files at {@code target} (the model's folder in the repository).
     *
     * @return whether the files changed
     * @throws IOException with the reason when the URI cannot be fetched or its archive is refused;
     *                     {@code target} is then as it was
     */
    public Outcome fetch(URI uri, Path target) throws IOException {
        String scheme = uri.getScheme() == null ? "file" : uri.getScheme().toLowerCase(Locale.ROOT);
        switch (scheme) {
            case "file" -> {
                return link(Path.of(uri.getPath()), target);
            }
            case "http", "https" -> {
                return download(uri, target);
            }
            default -> throw new IOException("storage URI scheme " + scheme + " is not supported (file, http, https)");
        }
    }

    private Outcome link(Path source, Path target) throws IOException {
        if (!Files.isDirectory(source)) {
            throw new IOException("storage path " + source + " is not a folder");
        }
        if (Files.isSymbolicLink(target) && Files.readSymbolicLink(target).equals(source.toAbsolutePath())) {
            return Outcome.UNCHANGED;
        }
        Files.createDirectories(target.getParent());
        Path staging = target.resolveSibling("." + target.getFileName() + ".link");
        Files.deleteIfExists(staging);
        Files.createSymbolicLink(staging, source.toAbsolutePath());
        replace(staging, target);
        return Outcome.UPDATED;
    }

    private static String digest(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private Outcome download(URI uri, Path target) throws IOException {
        String path = uri.getPath().toLowerCase(Locale.ROOT);
        boolean zip = path.endsWith(".zip");
        if (!zip && !path.endsWith(".tar.gz") && !path.endsWith(".tgz")) {
            throw new IOException("an http(s) storage URI names a .tar.gz, .tgz or .zip archive, was " + uri);
        }
        Files.createDirectories(cache);
        String key = digest(uri.toString());
        Path archive = cache.resolve(key + (zip ? ".zip" : ".tar.gz"));
        Path etagFile = cache.resolve(key + ".etag");
        String etag = Files.isRegularFile(archive) && Files.isRegularFile(etagFile) ? Files.readString(etagFile).trim() : null;
        HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(Duration.ofMinutes(10)).GET();
        if (etag != null && !etag.isEmpty()) {
            request.header("If-None-Match", etag);
        }
        Path part = cache.resolve(key + ".part");
        HttpResponse<Path> response;
        try {
            response = http.send(request.build(), HttpResponse.BodyHandlers.ofFile(part));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("download of " + uri + " interrupted", e);
        }
        if (response.statusCode() == 304 && Files.isDirectory(target)) {
            Files.deleteIfExists(part);
            return Outcome.UNCHANGED;
        }
        if (response.statusCode() != 200 && response.statusCode() != 304) {
            Files.deleteIfExists(part);
            throw new IOException("download of " + uri + " answered HTTP " + response.statusCode());
        }
        if (response.statusCode() == 200) {
            long declared = response.headers().firstValueAsLong("Content-Length").orElse(-1);
            if (declared >= 0 && Files.size(part) != declared) {
                Files.deleteIfExists(part);
                throw new IOException("download of " + uri + " is truncated: " + Files.size(part) + " of " + declared + " bytes");
            }
            // the same bytes as the archive unpacked last (a server without ETags): nothing to do
            Path sumFile = cache.resolve(key + ".sha256");
            String sum = sha256(part);
            if (Files.isDirectory(target) && Files.isRegularFile(sumFile) && Files.readString(sumFile).equals(sum)) {
                Files.move(part, archive, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                Files.writeString(etagFile, response.headers().firstValue("ETag").orElse(""));
                return Outcome.UNCHANGED;
            }
            Files.move(part, archive, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            Files.writeString(etagFile, response.headers().firstValue("ETag").orElse(""));
            Files.writeString(sumFile, sum);
        }
        Path staging = target.resolveSibling("." + target.getFileName() + ".unpacking");
        deleteTree(staging);
        Files.createDirectories(staging);
        try (InputStream in = new BufferedInputStream(Files.newInputStream(archive))) {
            unpack(zip ? new ZipArchiveInputStream(in) : new TarArchiveInputStream(new GZIPInputStream(in)), staging);
        } catch (IOException | RuntimeException e) {
            deleteTree(staging);
            // a cached archive that does not unpack is not kept: the next fetch downloads it again
            Files.deleteIfExists(archive);
            Files.deleteIfExists(etagFile);
            Files.deleteIfExists(cache.resolve(key + ".sha256"));
            throw new IOException("archive " + uri + " refused: " + e.getMessage(), e);
        }
        replace(modelFolder(staging), target);
        deleteTree(staging);
        return Outcome.UPDATED;
    }

    /**
     * The model's folder in an unpacked archive: the archive's top level when it holds the version
     * folders, or its one folder that does (an archive of {@code <model>/<version>/...}, as KServe's
     * storage initializer unpacks into /mnt/models), so one archive serves both loaders.
     */
    static Path modelFolder(Path unpacked) throws IOException {
        try (Stream<Path> top = Files.list(unpacked)) {
            List<Path> entries = top.toList();
            boolean versionsHere = entries.stream().anyMatch(p -> Files.isDirectory(p) && p.getFileName().toString().matches("[0-9]{1,9}"));
            if (!versionsHere && entries.size() == 1 && Files.isDirectory(entries.get(0))) {
                Path moved = unpacked.resolveSibling(unpacked.getFileName() + ".model");
                deleteTree(moved);
                Files.move(entries.get(0), moved, StandardCopyOption.ATOMIC_MOVE);
                return moved;
            }
        }
        return unpacked;
    }

    private static String sha256(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            byte[] buffer = new byte[64 * 1024];
            for (int n; (n = in.read(buffer)) > 0; ) {
                sha.update(buffer, 0, n);
            }
            return HexFormat.of().formatHex(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Unpacks every entry under {@code into}, refusing escapes, links and archive bombs. */
    void unpack(ArchiveInputStream<? extends ArchiveEntry> archive, Path into) throws IOException {
        Path root = into.toAbsolutePath().normalize();
        long total = 0;
        byte[] buffer = new byte[64 * 1024];
        for (ArchiveEntry entry; (entry = archive.getNextEntry()) != null; ) {
            String name = entry.getName();
            if (entry instanceof TarArchiveEntry tar && (tar.isSymbolicLink() || tar.isLink() || !tar.isFile() && !tar.isDirectory())) {
                throw new IOException("entry " + name + " is a link or a special file");
            }
            if (entry instanceof ZipArchiveEntry z && z.isUnixSymlink()) {
                throw new IOException("entry " + name + " is a link");
            }
            Path destination = root.resolve(name).normalize();
            if (name.startsWith("/") || name.contains("\\") || !destination.startsWith(root) || destination.equals(root) && !entry.isDirectory()) {
                throw new IOException("entry " + name + " would land outside the model's folder");
            }
            if (entry.isDirectory()) {
                Files.createDirectories(destination);
                continue;
            }
            Files.createDirectories(destination.getParent());
            try (OutputStream out = Files.newOutputStream(destination)) {
                for (int n; (n = archive.read(buffer)) > 0; ) {
                    total += n;
                    if (total > maxBytes) {
                        throw new IOException("the archive unpacks to more than " + maxBytes + " bytes (igate.storage.max-unpacked-bytes)");
                    }
                    out.write(buffer, 0, n);
                }
            }
        }
    }

    /** Replaces {@code target} by {@code staging} in one step (the old one removed after). */
    private static void replace(Path staging, Path target) throws IOException {
        Path old = target.resolveSibling("." + target.getFileName() + ".old");
        deleteTree(old);
        if (Files.exists(target, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
        }
        Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
        deleteTree(old);
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        if (Files.isSymbolicLink(p)) {
            Files.delete(p);
            return;
        }
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(q);
            }
        }
    }
}
