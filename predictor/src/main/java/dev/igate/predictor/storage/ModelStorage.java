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
import java.util.Map;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;

import org.apache.commons.compress.archivers.ArchiveEntry;
import org.apache.commons.compress.archivers.ArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.zip.ZipArchiveEntry;
import org.apache.commons.compress.archivers.zip.ZipFile;

/**
 * A model's files from its storage URI into the repository, as KServe's storage initializer puts
 * them in /mnt/models: {@code file://} or a plain path (a PVC mount) is linked, an {@code http(s)://}
 * or {@code s3://} {@code .tar.gz}, {@code .tgz} or {@code .zip} archive is downloaded to a cache and
 * unpacked, and the objects under any other {@code s3://bucket/prefix} are mirrored. Under the URI
 * the repository layout holds ({@code <version>/model.onnx, tokenizer.json, config.json}).
 *
 * <p>Downloads are checked (the length the server declared, and its ETag and the archive's
 * SHA-256, kept beside the archive, so that a valid cached copy is reused after a restart with a
 * conditional request and not downloaded again, and the same bytes are not unpacked again). Archives unpack safely: an entry that would land outside the target
 * ({@code ..}, an absolute path), a link, or more than {@code maxBytes} in all is refused with the
 * reason. The model's folder is replaced in one step, only once its new files are complete, so a
 * failed fetch leaves the previous files serving.
 */
public final class ModelStorage implements AutoCloseable {

    /**
     * How S3 is reached.
     *
     * @param endpoint  an S3-compatible store's URL (AWS_ENDPOINT_URL); null for AWS itself
     * @param region    the region; null or blank for the environment's (AWS_REGION) or profile's, else us-east-1
     * @param pathStyle path-style addressing (bucket in the path), always on when an endpoint is set
     */
    public record S3Settings(URI endpoint, String region, boolean pathStyle) {
        public static final S3Settings DEFAULT = new S3Settings(null, null, false);

        /** An endpoint setting as a URL: a URL, or a host[:port] as KServe's S3_ENDPOINT (https unless told not to). */
        public static URI endpoint(String setting, boolean https) {
            if (setting == null || setting.isBlank()) {
                return null;
            }
            String s = setting.trim();
            return URI.create(s.contains("://") ? s : (https ? "https://" : "http://") + s);
        }
    }

    private final Path cache;
    private final long maxBytes;
    private final S3Settings s3Settings;
    private S3Store s3;
    private final AtomicLong downloaded = new AtomicLong();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10))
            .followRedirects(HttpClient.Redirect.NORMAL).build();

    /**
     * @param cache    where archives are kept between fetches and restarts
     * @param maxBytes most bytes an archive may unpack to
     */
    public ModelStorage(Path cache, long maxBytes) {
        this(cache, maxBytes, S3Settings.DEFAULT);
    }

    /**
     * @param cache    where archives and objects are kept between fetches and restarts
     * @param maxBytes most bytes an archive may unpack to, or a model's objects add up to
     * @param s3       how S3 is reached
     */
    public ModelStorage(Path cache, long maxBytes, S3Settings s3) {
        this.cache = cache;
        this.maxBytes = maxBytes;
        this.s3Settings = s3;
    }

    /** Bytes downloaded since this storage was made (archives and objects; a reused cached copy adds nothing). */
    public long downloadedBytes() {
        return downloaded.get();
    }

    private synchronized S3Store s3() {
        if (s3 == null) {
            s3 = new S3Store(s3Settings);
        }
        return s3;
    }

    @Override
    public synchronized void close() {
        if (s3 != null) {
            s3.close();
            s3 = null;
        }
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
        return fetch(uri, target, Map.of());
    }

    /**
     * As {@link #fetch(URI, Path)}, sending {@code headers} with every request it makes to the
     * store (a W3C {@code traceparent}, say): http(s) downloads and S3 calls.
     */
    public Outcome fetch(URI uri, Path target, Map<String, String> headers) throws IOException {
        // one fetch of a model at a time, and of a storage URI: two (the start-up load and a poll, say)
        // would write the same staging folder and the same cached files under each other
        synchronized (lock("target " + target.toAbsolutePath().normalize())) {
            synchronized (lock("uri " + cache.toAbsolutePath().normalize() + " " + uri)) {
                try {
                    return fetchLocked(uri, target, headers);
                } catch (IOException e) {
                    // the reason reaches logs and health: a presigned URL's signature or a password must not
                    throw new IOException(redact(e.getMessage()), e);
                }
            }
        }
    }

    /** A URL inside a text: scheme, optional userinfo, the rest up to a query or a space, optional query. */
    private static final java.util.regex.Pattern URL =
            java.util.regex.Pattern.compile("\\b([a-zA-Z][a-zA-Z0-9+.-]*://)([^/\\s@?#]*@)?([^\\s?#]*)(\\?[^\\s#]*)?(#\\S*)?");

    /**
     * {@code text} with every URL's userinfo and query (and fragment) replaced by {@code ***}: what a
     * storage URI may carry that must not be published (a presigned URL's signature, a password),
     * the rest (scheme, host, path) kept so the operator still knows which URL it is.
     */
    public static String redact(String text) {
        if (text == null) {
            return null;
        }
        java.util.regex.Matcher m = URL.matcher(text);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String kept = m.group(1) + (m.group(2) == null ? "" : "***@") + m.group(3) + (m.group(4) == null ? "" : "?***")
                    + (m.group(5) == null ? "" : "#***");
            m.appendReplacement(out, java.util.regex.Matcher.quoteReplacement(kept));
        }
        m.appendTail(out);
        return out.toString();
    }

    /** Locks of this process's fetches, by target folder and by cached URI (a handful: one per model). */
    private static final java.util.concurrent.ConcurrentHashMap<String, Object> LOCKS = new java.util.concurrent.ConcurrentHashMap<>();

    private static Object lock(String what) {
        return LOCKS.computeIfAbsent(what, k -> new Object());
    }

    private Outcome fetchLocked(URI uri, Path target, Map<String, String> headers) throws IOException {
        String scheme = uri.getScheme() == null ? "file" : uri.getScheme().toLowerCase(Locale.ROOT);
        switch (scheme) {
            case "file" -> {
                return link(Path.of(uri.getPath()), target);
            }
            case "http", "https" -> {
                return httpArchive(uri, target, headers);
            }
            case "s3" -> {
                return s3(uri, target, headers);
            }
            default -> throw new IOException("storage URI scheme " + scheme + " is not supported (file, http, https, s3)");
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

    /**
     * A model under an {@code s3://bucket/prefix}: an archive object (.tar.gz, .tgz, .zip) as an
     * http(s) one, else the objects under the prefix, mirrored: each object is kept in the cache
     * by its name, size and ETag and downloaded only when none of those is there yet (so a restart
     * downloads nothing that did not change), every download checked (length, MD5 against a plain
     * ETag), and the model's folder built from the cached objects and
     * swapped in one step once all of them are there.
     */
    private Outcome s3(URI uri, Path target, Map<String, String> headers) throws IOException {
        String bucket = uri.getAuthority();
        if (bucket == null || bucket.isEmpty()) {
            throw new IOException("an s3 storage URI names a bucket (s3://bucket/prefix), was " + uri);
        }
        String prefix = uri.getPath() == null ? "" : uri.getPath().replaceFirst("^/+", "");
        S3Store store = s3();
        if (isArchive(prefix)) {
            return archive(uri, target, (etag, part) -> store.get(bucket, prefix, etag, part, maxBytes, headers));
        }
        String folder = prefix.isEmpty() || prefix.endsWith("/") ? prefix : prefix + "/";
        List<S3Store.Entry> objects = store.list(bucket, folder, headers);
        if (objects.isEmpty()) {
            throw new IOException("no objects under " + uri);
        }
        long total = objects.stream().mapToLong(S3Store.Entry::size).sum();
        if (total > maxBytes) {
            throw new IOException(uri + " holds more than " + maxBytes + " bytes (igate.storage-max-unpacked-bytes)");
        }
        String manifest = objects.stream().map(o -> o.name() + "\t" + o.size() + "\t" + o.etag()).sorted()
                .collect(java.util.stream.Collectors.joining("\n"));
        String key = digest(uri.toString());
        Path manifestFile = cache.resolve(key + ".manifest");
        if (Files.isDirectory(target) && Files.isRegularFile(manifestFile) && Files.readString(manifestFile).equals(manifest)) {
            return Outcome.UNCHANGED;
        }
        Path objectsDir = Files.createDirectories(cache.resolve(key + ".objects"));
        Path staging = target.resolveSibling("." + target.getFileName() + ".fetching");
        deleteTree(staging);
        Path root = Files.createDirectories(staging).toAbsolutePath().normalize();
        java.util.Set<String> kept = new java.util.HashSet<>();
        try {
            for (S3Store.Entry o : objects) {
                Path destination = landing(root, o.name(), false);
                String id = digest(o.name() + "\n" + o.size() + "\n" + o.etag());
                kept.add(id);
                Path cached = objectsDir.resolve(id);
                if (!Files.isRegularFile(cached) || Files.size(cached) != o.size()) {
                    Path part = objectsDir.resolve(id + ".part");
                    try {
                        Fetched fetched = store.get(bucket, folder + o.name(), null, part, maxBytes, headers);
                        long size = Files.size(part);
                        downloaded.addAndGet(size);
                        if (size != o.size()) {
                            throw new IOException("s3://" + bucket + "/" + folder + o.name() + " is truncated: " + size + " of " + o.size() + " bytes");
                        }
                        if (!fetched.etag().equals(o.etag())) {
                            throw new IOException("s3://" + bucket + "/" + folder + o.name() + " changed while it was fetched; the next fetch takes it");
                        }
                        Files.move(part, cached, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                    } finally {
                        Files.deleteIfExists(part);
                    }
                }
                Files.createDirectories(destination.getParent());
                try {
                    Files.createLink(destination, cached);
                } catch (IOException | UnsupportedOperationException e) {
                    Files.copy(cached, destination);
                }
            }
        } catch (IOException | RuntimeException e) {
            deleteTree(staging);
            throw e;
        }
        replace(modelFolder(staging), target);
        deleteTree(staging);
        Files.writeString(manifestFile, manifest);
        // objects no longer listed are not kept
        try (Stream<Path> files = Files.list(objectsDir)) {
            for (Path p : files.filter(p -> !kept.contains(p.getFileName().toString())).toList()) {
                Files.deleteIfExists(p);
            }
        }
        return Outcome.UPDATED;
    }

    /** An archive's bytes from where it is kept, fetched into {@code part} unless it still has {@code etag}. */
    private interface ArchiveSource {
        /** @return null when the stored archive still has {@code etag} (nothing written) */
        Fetched get(String etag, Path part) throws IOException;
    }

    /** A fetched archive: its ETag (or "") and the length its store declared (-1 when none). */
    record Fetched(String etag, long declaredLength) {
    }

    private Outcome httpArchive(URI uri, Path target, Map<String, String> headers) throws IOException {
        return archive(uri, target, (etag, part) -> {
            HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(Duration.ofMinutes(10)).GET();
            headers.forEach(request::header);
            if (etag != null && !etag.isEmpty()) {
                request.header("If-None-Match", etag);
            }
            HttpResponse<InputStream> response;
            try {
                response = http.send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("download of " + uri + " interrupted", e);
            }
            try (InputStream body = response.body()) {
                if (response.statusCode() == 304) {
                    return null;
                }
                if (response.statusCode() != 200) {
                    throw new IOException("download of " + uri + " answered HTTP " + response.statusCode());
                }
                long declared = response.headers().firstValueAsLong("Content-Length").orElse(-1);
                copyBounded(body, declared, part, maxBytes, "download of " + uri);
                return new Fetched(response.headers().firstValue("ETag").orElse(""), declared);
            }
        });
    }

    /**
     * Copies a download into {@code part}, refusing it (before a byte is written when its declared
     * length says so) once it holds more than {@code max} bytes: a storage URI cannot fill the disk.
     */
    static void copyBounded(InputStream in, long declared, Path part, long max, String what) throws IOException {
        String refusal = what + " holds more than " + max + " bytes (igate.storage-max-unpacked-bytes)";
        if (declared > max) {
            throw new IOException(refusal);
        }
        long total = 0;
        byte[] buffer = new byte[64 * 1024];
        try (OutputStream out = Files.newOutputStream(part)) {
            for (int n; (n = in.read(buffer)) > 0; ) {
                total += n;
                if (total > max) {
                    throw new IOException(refusal);
                }
                out.write(buffer, 0, n);
            }
        }
    }

    private static boolean isArchive(String path) {
        String lower = path.toLowerCase(Locale.ROOT);
        return lower.endsWith(".zip") || lower.endsWith(".tar.gz") || lower.endsWith(".tgz");
    }

    /** Fetches an archive into the cache (unless its cached copy is current) and unpacks it into {@code target}. */
    private Outcome archive(URI uri, Path target, ArchiveSource source) throws IOException {
        if (!isArchive(uri.getPath())) {
            throw new IOException("an http(s) storage URI names a .tar.gz, .tgz or .zip archive, was " + uri);
        }
        boolean zip = uri.getPath().toLowerCase(Locale.ROOT).endsWith(".zip");
        Files.createDirectories(cache);
        String key = digest(uri.toString());
        Path archive = cache.resolve(key + (zip ? ".zip" : ".tar.gz"));
        Path etagFile = cache.resolve(key + ".etag");
        Path sumFile = cache.resolve(key + ".sha256");
        String etag = Files.isRegularFile(archive) && Files.isRegularFile(etagFile) ? Files.readString(etagFile).trim() : null;
        Path part = cache.resolve(key + ".part");
        Fetched fetched;
        try {
            fetched = source.get(etag, part);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(part);
            throw e instanceof IOException io ? io : new IOException(e.getMessage(), e);
        }
        if (fetched == null && Files.isDirectory(target)) {
            return Outcome.UNCHANGED;
        }
        if (fetched != null) {
            long size = Files.size(part);
            downloaded.addAndGet(size);
            if (fetched.declaredLength() >= 0 && size != fetched.declaredLength()) {
                Files.deleteIfExists(part);
                throw new IOException("download of " + uri + " is truncated: " + size + " of " + fetched.declaredLength() + " bytes");
            }
            String sum = sha256(part);
            // the same bytes as the archive unpacked last (a server without ETags): nothing to do
            boolean same = Files.isDirectory(target) && Files.isRegularFile(sumFile) && Files.readString(sumFile).equals(sum);
            Files.move(part, archive, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            Files.writeString(etagFile, fetched.etag());
            if (same) {
                return Outcome.UNCHANGED;
            }
            Files.writeString(sumFile, sum);
        }
        Path staging = target.resolveSibling("." + target.getFileName() + ".unpacking");
        deleteTree(staging);
        Files.createDirectories(staging);
        try {
            if (zip) {
                unpackZip(archive, staging);
            } else {
                try (InputStream in = new BufferedInputStream(Files.newInputStream(archive))) {
                    unpack(new TarArchiveInputStream(new GZIPInputStream(in)), staging);
                }
            }
        } catch (IOException | RuntimeException e) {
            deleteTree(staging);
            // a cached archive that does not unpack is not kept: the next fetch downloads it again
            Files.deleteIfExists(archive);
            Files.deleteIfExists(etagFile);
            Files.deleteIfExists(sumFile);
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

    /** The SHA-256 of a file's bytes, in hex. Blocking. */
    public static String sha256(Path file) throws IOException {
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

    /** Unpacks every entry of a tar stream under {@code into}, refusing escapes, links, special files and archive bombs. */
    void unpack(ArchiveInputStream<? extends ArchiveEntry> archive, Path into) throws IOException {
        Path root = into.toAbsolutePath().normalize();
        long[] total = {0};
        for (ArchiveEntry entry; (entry = archive.getNextEntry()) != null; ) {
            if (entry instanceof TarArchiveEntry tar && (tar.isSymbolicLink() || tar.isLink() || !tar.isFile() && !tar.isDirectory())) {
                throw new IOException("entry " + entry.getName() + " is a link or a special file");
            }
            write(archive, entry, root, total);
        }
    }

    /**
     * Unpacks a zip file under {@code into} as {@link #unpack} does a tar. Read through its central
     * directory, the only place a zip keeps an entry's Unix mode: a stream read of the local headers
     * never sees that an entry is a symbolic link, and would write the link's target path as a file.
     */
    void unpackZip(Path zip, Path into) throws IOException {
        Path root = into.toAbsolutePath().normalize();
        long[] total = {0};
        try (ZipFile file = ZipFile.builder().setPath(zip).get()) {
            for (ZipArchiveEntry entry : java.util.Collections.list(file.getEntriesInPhysicalOrder())) {
                if (entry.isUnixSymlink()) {
                    throw new IOException("entry " + entry.getName() + " is a link");
                }
                try (InputStream in = file.getInputStream(entry)) {
                    write(in, entry, root, total);
                }
            }
        }
    }

    /** Writes one entry's bytes where it lands under {@code root}, adding them to {@code total[0]} and refusing past the limit. */
    private void write(InputStream in, ArchiveEntry entry, Path root, long[] total) throws IOException {
        Path destination = landing(root, entry.getName(), entry.isDirectory());
        if (entry.isDirectory()) {
            Files.createDirectories(destination);
            return;
        }
        Files.createDirectories(destination.getParent());
        byte[] buffer = new byte[64 * 1024];
        try (OutputStream out = Files.newOutputStream(destination)) {
            for (int n; (n = in.read(buffer)) > 0; ) {
                total[0] += n;
                if (total[0] > maxBytes) {
                    throw new IOException("the archive unpacks to more than " + maxBytes + " bytes (igate.storage-max-unpacked-bytes)");
                }
                out.write(buffer, 0, n);
            }
        }
    }

    /** Where a file named {@code name} lands under {@code root}, refused when that is outside it. */
    private static Path landing(Path root, String name, boolean directory) throws IOException {
        Path destination = root.resolve(name).normalize();
        if (name.startsWith("/") || name.contains("\\") || !destination.startsWith(root) || destination.equals(root) && !directory) {
            throw new IOException("entry " + name + " would land outside the model's folder");
        }
        return destination;
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

    /** Deletes a file, a link (not what it points to) or a folder and everything under it; nothing when absent. */
    public static void deleteTree(Path p) throws IOException {
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
