package dev.igate.predictor;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Which versions of a model serve, as Triton's version_policy: {@code all}, {@code latest:N} (the
 * N highest version numbers; {@code latest} alone is 1) or {@code specific:1,3}.
 *
 * @param kind     all, latest or specific
 * @param latest   how many of the highest versions, for latest
 * @param specific the versions, for specific
 */
public record VersionPolicy(String kind, int latest, List<String> specific) {

    public static final VersionPolicy ALL = new VersionPolicy("all", 0, List.of());

    /**
     * @throws IllegalArgumentException for anything else than all, latest[:N] or specific:v,...
     */
    public static VersionPolicy parse(String text) {
        if (text == null || text.isBlank()) {
            return ALL;
        }
        String t = text.trim().toLowerCase(Locale.ROOT);
        if (t.equals("all")) {
            return ALL;
        }
        if (t.equals("latest") || t.matches("latest:[1-9][0-9]{0,3}")) {
            return new VersionPolicy("latest", t.equals("latest") ? 1 : Integer.parseInt(t.substring(7)), List.of());
        }
        if (t.matches("specific:[0-9]{1,9}(,[0-9]{1,9})*")) {
            return new VersionPolicy("specific", 0, List.of(t.substring(9).split(",")));
        }
        throw new IllegalArgumentException("version-policy must be all, latest, latest:N or specific:v1,v2,..., was " + text);
    }

    /** The versions that serve, from the repository's (sorted by number, ascending). */
    public List<String> select(List<String> versions) {
        return switch (kind) {
            case "latest" -> versions.subList(Math.max(0, versions.size() - latest), versions.size());
            case "specific" -> {
                List<String> out = new ArrayList<>();
                for (String v : versions) {
                    if (specific.stream().anyMatch(s -> Long.parseLong(s) == Long.parseLong(v))) {
                        out.add(v);
                    }
                }
                yield out;
            }
            default -> versions;
        };
    }
}
