package dev.igate.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

import dev.igate.protocol.Tensor;
import dev.igate.transformer.TokenClassification.Aggregation;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Entities from a {@code [texts, tokens, labels]} output, with texts tokenized by a real WordPiece
 * tokenizer (MiniLM's, uncased: it lowercases and strips accents, the offsets still point into the
 * original text), and HuggingFace's aggregation strategies.
 */
class TokenClassificationTests {

    static final List<String> LABELS = List.of("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-MISC", "I-MISC");

    @TempDir
    static Path dir;
    static TextEncoder encoder;

    @BeforeAll
    static void load() throws Exception {
        encoder = TextEncoderTests.miniLm(dir);
    }

    @AfterAll
    static void close() {
        encoder.close();
    }

    /** Logits that give each token the label {@code label} names for its token string, with logit {@code strength}. */
    static Tensor logits(TokenBatch batch, Function<String, Map.Entry<String, Float>> label) {
        float[] v = new float[batch.rows() * batch.length() * LABELS.size()];
        for (int r = 0; r < batch.rows(); r++) {
            for (int j = 0; j < batch.length(); j++) {
                String token = batch.tokens()[r].length > j ? batch.tokens()[r][j] : "[PAD]";
                Map.Entry<String, Float> chosen = label.apply(token);
                v[(r * batch.length() + j) * LABELS.size() + LABELS.indexOf(chosen.getKey())] = chosen.getValue();
            }
        }
        return Tensor.ofFloats("logits", new long[] {batch.rows(), batch.length(), LABELS.size()}, v);
    }

    static Map.Entry<String, Float> people(String token) {
        return switch (token) {
            case "john" -> Map.entry("B-PER", 6f);
            case "smith" -> Map.entry("I-PER", 4f);
            case "new" -> Map.entry("B-LOC", 6f);
            case "york" -> Map.entry("I-LOC", 6f);
            default -> Map.entry("O", 6f);
        };
    }

    static TokenClassification task(Aggregation aggregation) {
        return new TokenClassification(LABELS, aggregation, Set.of("O"));
    }

    @Test
    void noneGivesEveryTokenNotIgnoredItsLabelIndexAndSpan() {
        String text = "John Smith lives in New York";
        TokenBatch batch = encoder.encode(List.of(text));

        Prediction p = task(Aggregation.NONE).decode(logits(batch, TokenClassificationTests::people), batch).get(0);

        assertThat(p.entities()).extracting(Prediction.Entity::label).containsExactly("B-PER", "I-PER", "B-LOC", "I-LOC");
        assertThat(p.entities()).extracting(Prediction.Entity::word).containsExactly("John", "Smith", "New", "York");
        // [CLS] is token 0: John is token 1
        assertThat(p.entities().get(0).token()).isEqualTo(1);
        assertThat(p.entities()).allSatisfy(e -> assertThat(text.substring(e.start(), e.end())).isEqualTo(e.word()));
        assertThat(task(Aggregation.NONE).answer(p)).asList().first()
                .isEqualTo(Map.of("entity", "B-PER", "score", p.entities().get(0).score(), "index", 1, "word", "John", "start", 0, "end", 4));
    }

    @Test
    void simpleGroupsTokensByTheirBAndIPrefixesAndAveragesTheirScores() {
        String text = "John Smith lives in New York. Smith too.";
        TokenBatch batch = encoder.encode(List.of(text));

        Prediction p = task(Aggregation.SIMPLE).decode(logits(batch, TokenClassificationTests::people), batch).get(0);

        // a lone I- after an O starts a group of its own
        assertThat(p.entities()).extracting(Prediction.Entity::label).containsExactly("PER", "LOC", "PER");
        assertThat(p.entities()).extracting(Prediction.Entity::word).containsExactly("John Smith", "New York", "Smith");
        Prediction.Entity john = p.entities().get(0);
        assertThat(text.substring(john.start(), john.end())).isEqualTo("John Smith");
        float b = softmaxOf(6f);
        float i = softmaxOf(4f);
        assertThat(john.score()).isCloseTo((b + i) / 2, within(1e-6f));
        assertThat(task(Aggregation.SIMPLE).answer(p)).asList().first()
                .isEqualTo(Map.of("entity_group", "PER", "score", john.score(), "word", "John Smith", "start", 0, "end", 10));
    }

    /** The probability of a label whose logit is {@code logit}, the six others 0. */
    static float softmaxOf(float logit) {
        return (float) (Math.exp(logit) / (Math.exp(logit) + LABELS.size() - 1));
    }

    /** "bioavailability" is four tokens, bio ##ava ##ila ##bility: labelled MISC, then PER with rising confidence. */
    static Map.Entry<String, Float> splitWord(String token) {
        return switch (token) {
            case "bio" -> Map.entry("B-MISC", 3f);
            case "##ava" -> Map.entry("I-PER", 2f);
            case "##ila" -> Map.entry("I-PER", 2f);
            case "##bility" -> Map.entry("I-PER", 8f);
            default -> Map.entry("O", 6f);
        };
    }

    @Test
    void wordStrategiesNeverSplitAWordAndChooseItsLabelAsTheirNamesSay() {
        String text = "Oral bioavailability matters";
        TokenBatch batch = encoder.encode(List.of(text));
        assertThat(batch.tokens()[0]).contains("bio", "##ava", "##ila", "##bility");
        Tensor out = logits(batch, TokenClassificationTests::splitWord);

        Prediction simple = task(Aggregation.SIMPLE).decode(out, batch).get(0);
        Prediction first = task(Aggregation.FIRST).decode(out, batch).get(0);
        Prediction max = task(Aggregation.MAX).decode(out, batch).get(0);
        Prediction average = task(Aggregation.AVERAGE).decode(out, batch).get(0);

        // simple splits the word where its tokens' tags change
        assertThat(simple.entities()).extracting(Prediction.Entity::word).containsExactly("bio", "availability");
        // first: the first token's label for the whole word
        assertThat(first.entities()).singleElement().satisfies(e -> {
            assertThat(e.label()).isEqualTo("MISC");
            assertThat(e.word()).isEqualTo("bioavailability");
            assertThat(e.score()).isCloseTo(softmaxOf(3f), within(1e-6f));
        });
        // max: the most confident token's (##bility, logit 8)
        assertThat(max.entities()).singleElement().satisfies(e -> {
            assertThat(e.label()).isEqualTo("PER");
            assertThat(e.score()).isCloseTo(softmaxOf(8f), within(1e-6f));
        });
        // average: the mean of the four tokens' probabilities, its largest label PER
        assertThat(average.entities()).singleElement().satisfies(e -> {
            assertThat(e.label()).isEqualTo("PER");
            assertThat(text.substring(e.start(), e.end())).isEqualTo("bioavailability");
        });
    }

    @Test
    void offsetsCountCodePointsAsPythonDoesSoAccentsAndEmojiKeepThemRight() {
        // the emoji is two Java chars but one Python character: every offset after it differs by one
        String text = "Café ☕ then 🍰 in New York";
        TokenBatch batch = encoder.encode(List.of(text));

        Prediction p = task(Aggregation.SIMPLE).decode(logits(batch, TokenClassificationTests::people), batch).get(0);

        Prediction.Entity york = p.entities().get(0);
        assertThat(york.word()).isEqualTo("New York");
        int pythonStart = text.codePointCount(0, text.indexOf("New York"));
        assertThat(york.start()).isEqualTo(pythonStart).isEqualTo(text.indexOf("New York") - 1);
        assertThat(york.end()).isEqualTo(pythonStart + "New York".length());
    }

    @Test
    void eachTextOfABatchGetsItsOwnEntitiesAndAWrongShapeIsRefused() {
        TokenBatch batch = encoder.encode(List.of("John Smith", "in New York today"));

        List<Prediction> p = task(Aggregation.SIMPLE).decode(logits(batch, TokenClassificationTests::people), batch);

        assertThat(p.get(0).entities()).extracting(Prediction.Entity::word).containsExactly("John Smith");
        assertThat(p.get(1).entities()).extracting(Prediction.Entity::word).containsExactly("New York");
        assertThat(task(Aggregation.SIMPLE).summary(p.get(1))).isEqualTo("LOC: New York");
        assertThatThrownBy(() -> task(Aggregation.SIMPLE).decode(Outputs.matrix(2, new float[14]), batch))
                .hasMessageContaining("texts x tokens x labels");
        assertThat(Task.of(Task.TOKEN_CLASSIFICATION, LABELS)).isInstanceOf(TokenClassification.class);
        assertThatThrownBy(() -> Aggregation.of("mean")).hasMessageContaining("none, simple, first, average or max");
    }
}
