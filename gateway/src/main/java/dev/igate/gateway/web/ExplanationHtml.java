package dev.igate.gateway.web;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;

import dev.igate.protocol.Explanation;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.http.server.reactive.ServerHttpRequest;

/**
 * An explain answer as a self-contained HTML page (Accept: text/html), as Captum's and
 * transformers-interpret's visualisers draw one: per text the prediction, the target (and what it
 * is contrasted with), each word on a diverging scale (green for the target, red against it, the
 * raw attribution on hover), a pair's two texts on two lines, the label scores, the delta or the
 * faithfulness measures when asked. No script, no external resource: it can be saved and mailed.
 */
final class ExplanationHtml {

    private ExplanationHtml() {
    }

    /** Whether the client asks for HTML before JSON (a browser's Accept, or text/html alone). */
    static boolean wanted(ServerHttpRequest request) {
        List<MediaType> accepted = new java.util.ArrayList<>(request.getHeaders().getAccept());
        // by quality, the listed order among equals (a stable sort)
        accepted.sort(java.util.Comparator.comparingDouble(MediaType::getQualityValue).reversed());
        for (MediaType type : accepted) {
            if (type.isCompatibleWith(MediaType.TEXT_HTML) && !type.isWildcardType()) {
                return true;
            }
            if (type.isCompatibleWith(MediaType.APPLICATION_JSON) && !type.isWildcardType()) {
                return false;
            }
        }
        return false;
    }

    static ResponseEntity<byte[]> page(String model, String version, List<Explanation> explanations) {
        StringBuilder h = new StringBuilder(4096);
        h.append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>")
                .append(escape(model)).append(" explained</title><style>")
                .append("body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2430}")
                .append(".text{line-height:2.2;font-size:1.1rem;margin:.4rem 0}")
                .append(".w{padding:.15rem .3rem;margin:0 .1rem;border-radius:3px}")
                .append(".facts{color:#4a5568;font-size:.9rem}table{border-collapse:collapse}td{padding:0 .6rem 0 0}")
                .append("</style></head><body><h1>").append(escape(model)).append(" <small>version ").append(escape(version))
                .append("</small></h1>");
        for (Explanation e : explanations) {
            h.append("<section><h2>Prediction: ").append(escape(e.prediction())).append("</h2><p>Attributions of <b>")
                    .append(escape(e.target())).append("</b>");
            if (e.contrast() != null) {
                h.append(" against <b>").append(escape(e.contrast())).append("</b>");
            }
            h.append(" (").append(escape(e.explainer().replace('_', ' '))).append(")</p>");
            int segment = Integer.MIN_VALUE;
            for (int i = 0; i < e.words().size(); i++) {
                int s = e.segments() == null ? 0 : e.segments()[i];
                if (s < 0) {
                    continue;
                }
                if (s != segment) {
                    h.append(segment == Integer.MIN_VALUE ? "" : "</p>").append("<p class=\"text\">");
                    segment = s;
                }
                double v = e.importances()[i];
                double alpha = Math.min(1, Math.abs(v)) * 0.85;
                h.append("<span class=\"w\" title=\"").append(String.format(Locale.ROOT, "%.4f", e.attributions()[i]))
                        .append("\" style=\"background:").append(v >= 0 ? "rgba(39, 174, 96, " : "rgba(214, 48, 49, ")
                        .append(String.format(Locale.ROOT, "%.3f", alpha)).append(")\">").append(escape(e.words().get(i))).append("</span> ");
            }
            h.append("</p><table>");
            for (int c = 0; c < e.labels().size() && c < e.probabilities().length; c++) {
                h.append("<tr><td>").append(escape(e.labels().get(c))).append("</td><td>")
                        .append(String.format(Locale.ROOT, "%.4f", e.probabilities()[c])).append("</td></tr>");
            }
            h.append("</table><p class=\"facts\">");
            if (e.hasDelta()) {
                h.append(String.format(Locale.ROOT, "delta %.3g after %d steps (%s, %s gradients)", e.delta(), e.steps(), e.method(),
                        e.gradients()));
            } else {
                h.append(escape(e.gradients())).append(" gradients");
            }
            if (e.faithfulness() != null) {
                h.append(String.format(Locale.ROOT, " · comprehensiveness %.3f · sufficiency %.3f · leave-one-out Spearman %.3f"
                        + " (%d evaluations)", e.faithfulness().comprehensiveness(), e.faithfulness().sufficiency(),
                        e.faithfulness().leaveOneOutSpearman(), e.faithfulness().evaluations()));
            }
            if (e.approximate()) {
                h.append(" · approximate: ").append(escape(e.approximation()));
            }
            h.append("</p></section>");
        }
        h.append("</body></html>\n");
        return ResponseEntity.ok().contentType(new MediaType(MediaType.TEXT_HTML, StandardCharsets.UTF_8)).header(JsonResponses.VERSION_HEADER,
                version).body(h.toString().getBytes(StandardCharsets.UTF_8));
    }

    private static String escape(String s) {
        if (s == null) {
            return "";
        }
        StringBuilder out = new StringBuilder(s.length());
        for (char c : s.toCharArray()) {
            switch (c) {
                case '<' -> out.append("&lt;");
                case '>' -> out.append("&gt;");
                case '&' -> out.append("&amp;");
                case '"' -> out.append("&quot;");
                case '\'' -> out.append("&#39;");
                default -> out.append(c);
            }
        }
        return out.toString();
    }
}
