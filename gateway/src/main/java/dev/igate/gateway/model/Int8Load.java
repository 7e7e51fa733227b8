package dev.igate.gateway.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import ai.onnx.proto.OnnxMl.ModelProto;
import dev.igate.predictor.ModelLoadException;
import dev.igate.predictor.OnnxModel;
import dev.igate.predictor.onnx.Int8Quantizer;
import dev.igate.predictor.onnx.OnnxProtos;
import dev.igate.predictor.storage.ModelStorage;
import dev.igate.protocol.Tensor;
import dev.igate.transformer.TextEncoder;
import dev.igate.transformer.TokenBatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * int8 on load ({@code igate.models.<name>.quantize: int8}): the quantized copy of a version's fp32
 * model ({@link Int8Quantizer}: int8 weights, activations per token or per run, the word table left in float), kept
 * in the storage cache under the source's SHA-256 so that a restart does not quantize again; and
 * the check of the int8 model against the fp32 one on calibration texts (the version's or the
 * model's {@code calibration.txt}, one text per line) before it serves. Blocking.
 */
final class Int8Load {

    private static final Logger log = LoggerFactory.getLogger(Int8Load.class);

    /** A folder's calibration texts, one per line: the version's, else the model's. */
    static final String CALIBRATION_FILE = "calibration.txt";
    /** Most calibration texts read (the check runs the fp32 and the int8 model over each). */
    static final int MAX_CALIBRATION_TEXTS = 2000;

    private final Path cache;

    /** @param cache where quantized copies are kept ({@code <storage-cache>/int8}) */
    Int8Load(Path cache) {
        this.cache = cache;
    }

    /**
     * The int8 model of {@code source} (a version's model.onnx): the cached copy when one of these
     * bytes exists, else quantized now and cached.
     *
     * @throws ModelLoadException when the model cannot be read, has nothing to quantize, or the copy cannot be kept
     */
    Path quantized(Path source, boolean perChannel, boolean perToken) throws ModelLoadException {
        try {
            String digest = ModelStorage.sha256(source);
            // weights per channel or per tensor; activations per token, or per run (no suffix); the quantizer's form
            String kind = digest + (perChannel ? "-per-channel" : "-per-tensor") + (perToken ? "-per-token" : "");
            Path cached = cache.resolve(kind + "-form" + Int8Quantizer.FORM + ".onnx");
            if (Files.isRegularFile(cached)) {
                log.info("int8 copy of {} reused from the cache ({})", source, cached.getFileName());
                return cached;
            }
            long start = System.nanoTime();
            Files.createDirectories(cache);
            // the source's weights read from a mapping (only the int8 copy's are made on the heap), of a private copy:
            // the repository's file may be rewritten in place (cp over it), which would fault the mapping's reads
            Path snapshot = Files.createTempFile(cache, digest, ".source");
            Path part = Files.createTempFile(cache, digest, ".part");
            try {
                Files.copy(source, snapshot, StandardCopyOption.REPLACE_EXISTING);
                ModelProto int8 = Int8Quantizer.quantize(OnnxProtos.readMapped(snapshot, source.getParent()), new Int8Quantizer.Options(perChannel, false,
                        perToken ? Int8Quantizer.Activations.PER_TOKEN : Int8Quantizer.Activations.PER_TENSOR));
                OnnxProtos.write(part, int8);
                Files.move(part, cached, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                dropOtherForms(kind, cached);
            } finally {
                Files.deleteIfExists(part);
                // unlinked now, the mapping (if the garbage collector has not dropped it yet) stays valid
                Files.deleteIfExists(snapshot);
            }
            log.info("int8 copy of {} made in {} ms: {} MB -> {} MB ({})", source, (System.nanoTime() - start) / 1_000_000,
                    Files.size(source) >> 20, Files.size(cached) >> 20, (perChannel ? "weights per channel" : "weights per tensor")
                    + (perToken ? ", activations per token" : ", activations per run"));
            return cached;
        } catch (IOException e) {
            throw new ModelLoadException("quantize: int8: the model could not be quantized: " + e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            throw new ModelLoadException("quantize: int8: " + e.getMessage(), e);
        }
    }

    /** Deletes the copies of the same source and options that an earlier quantizer form wrote. */
    private void dropOtherForms(String kind, Path current) throws IOException {
        Pattern earlier = Pattern.compile(Pattern.quote(kind) + "(-form\\d+)?\\.onnx");
        try (Stream<Path> files = Files.list(cache)) {
            for (Path p : files.filter(p -> !p.equals(current) && earlier.matcher(p.getFileName().toString()).matches()).toList()) {
                Files.deleteIfExists(p);
                log.info("int8 copy {} of an earlier quantizer form deleted", p.getFileName());
            }
        }
    }

    /** The calibration texts of a version: its folder's calibration.txt, else its model's; empty when neither has one. */
    static List<String> calibrationTexts(Path versionDir) throws ModelLoadException {
        for (Path file : List.of(versionDir.resolve(CALIBRATION_FILE), versionDir.getParent().resolve(CALIBRATION_FILE))) {
            if (Files.isRegularFile(file)) {
                try (var lines = Files.lines(file)) {
                    return lines.map(String::strip).filter(l -> !l.isEmpty()).limit(MAX_CALIBRATION_TEXTS).toList();
                } catch (IOException | java.io.UncheckedIOException e) {
                    throw new ModelLoadException(CALIBRATION_FILE + " could not be read: " + e.getMessage(), e);
                }
            }
        }
        return List.of();
    }

    /**
     * How the int8 model answers against the fp32 one over calibration texts.
     *
     * @param texts              the calibration texts
     * @param agreement          the share of predictions (a text's label; a token classifier's, each token's) the two
     *                           models agree on
     * @param maxLogitDifference the largest difference of one logit between them
     * @param perChannel         whether the int8 weights have a scale per output channel
     * @param perToken           whether the activations have a scale per token (else one per run)
     */
    record Check(int texts, double agreement, double maxLogitDifference, boolean perChannel, boolean perToken) {

        /** What model metadata shows (parameters). */
        Map<String, Object> parameters() {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("quantization", "int8");
            out.put("quantization_per_channel", perChannel);
            out.put("quantization_activations", perToken ? "per-token" : "per-tensor");
            out.put("quantization_calibration_texts", texts);
            out.put("quantization_label_agreement", agreement);
            out.put("quantization_max_logit_difference", maxLogitDifference);
            return out;
        }
    }

    /**
     * Runs the fp32 and the int8 model over the texts, {@value #BATCH} at a time, and compares the
     * logits (the output named {@code output}): positions a text's mask leaves out are not counted.
     */
    static Check compare(OnnxModel fp32, OnnxModel int8, String output, TextEncoder encoder, List<String> texts, boolean perChannel,
                         boolean perToken) {
        long agreed = 0;
        long predictions = 0;
        double maxDifference = 0;
        for (int from = 0; from < texts.size(); from += BATCH) {
            TokenBatch batch = encoder.encode(texts.subList(from, Math.min(texts.size(), from + BATCH)));
            long[] shape = {batch.rows(), batch.length()};
            Tensor a = fp32.run(fp32.tokenFeeds(shape, batch.inputIds(), batch.attentionMask(), batch.typeIds()), List.of(output)).get(0);
            Tensor b = int8.run(int8.tokenFeeds(shape, batch.inputIds(), batch.attentionMask(), batch.typeIds()), List.of(output)).get(0);
            float[] x = a.floats();
            float[] y = b.floats();
            long[] dims = a.shape();
            int classes = (int) dims[dims.length - 1];
            // a row's logits ([rows, labels]), or each token's ([rows, tokens, labels])
            int perRow = x.length / batch.rows() / classes;
            for (int row = 0; row < batch.rows(); row++) {
                for (int position = 0; position < perRow; position++) {
                    if (perRow > 1 && batch.attentionMask()[row * batch.length() + position] == 0) {
                        continue;
                    }
                    int at = (row * perRow + position) * classes;
                    int bestX = 0;
                    int bestY = 0;
                    for (int c = 0; c < classes; c++) {
                        maxDifference = Math.max(maxDifference, Math.abs(x[at + c] - y[at + c]));
                        bestX = x[at + c] > x[at + bestX] ? c : bestX;
                        bestY = y[at + c] > y[at + bestY] ? c : bestY;
                    }
                    predictions++;
                    agreed += bestX == bestY ? 1 : 0;
                }
            }
        }
        return new Check(texts.size(), predictions == 0 ? 1 : (double) agreed / predictions, maxDifference, perChannel, perToken);
    }

    static final int BATCH = 16;
}
