package dev.igate.gateway.model;

import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Failure reasons as clients may read them (503 bodies, {@code /ready}, health details): file
 * paths under the model repository become relative to it ({@code Broken/1/model.onnx}), and any
 * other absolute path is cut to its file name, so the server's layout never leaks (storage URLs,
 * which the operator set, stay, less their userinfo and query: a password or a presigned URL's
 * signature never leaks either). The log keeps the full message, URLs redacted alike.
 */
final class PublicReasons {

    /** A path not inside a URL ({@code s3://bucket/key} and {@code http://host/path} stay whole: the operator wrote them). */
    private static final Pattern ABSOLUTE_PATH = Pattern.compile("(?<![\\w.:/])(/[\\w.@+-]+)+/?");

    private PublicReasons() {
    }

    static String of(String reason, Path repository) {
        if (reason == null) {
            return null;
        }
        String out = dev.igate.predictor.storage.ModelStorage.redact(reason);
        for (Path root : new Path[] {repository.toAbsolutePath().normalize(), realPath(repository)}) {
            if (root != null) {
                out = out.replace(root + "/", "").replace(root.toString(), ".");
            }
        }
        Matcher m = ABSOLUTE_PATH.matcher(out);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            Path p = Path.of(m.group());
            m.appendReplacement(sb, Matcher.quoteReplacement(p.getFileName() == null ? "/" : p.getFileName().toString()));
        }
        m.appendTail(sb);
        return sb.toString();
    }

    private static Path realPath(Path repository) {
        try {
            return repository.toRealPath();
        } catch (java.io.IOException | RuntimeException e) {
            return null;
        }
    }
}
