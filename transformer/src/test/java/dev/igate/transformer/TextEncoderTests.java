package dev.igate.transformer;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The MiniLM tokenizer.json shipped in the langchain4j jar, through DJL. */
class TextEncoderTests {

    static final String SEED = "Risk assessment implications of site-specific oral relative bioavailability.";

    @TempDir
    static Path dir;
    static TextEncoder encoder;

    @BeforeAll
    static void load() throws Exception {
        encoder = miniLm(dir);
    }

    /** MiniLM's tokenizer (uncased WordPiece), written into {@code dir} and loaded with a 128-token limit. */
    static TextEncoder miniLm(Path dir) throws Exception {
        Path file = dir.resolve("tokenizer.json");
        try (InputStream in = TextEncoderTests.class.getResourceAsStream("/all-minilm-l6-v2-tokenizer.json")) {
            Files.copy(in, file);
        }
        return TextEncoder.load(file, 128);
    }

    @AfterAll
    static void close() {
        encoder.close();
    }

    @Test
    void seedSentenceTokenizesToTheKnownIds() {
        TokenBatch batch = encoder.encode(List.of(SEED));

        assertThat(batch.ids(0)).containsExactly(101, 3891, 7667, 13494, 1997, 2609, 1011, 3563, 8700, 5816, 16012,
                12462, 11733, 8553, 1012, 102);
        assertThat(batch.length()).isEqualTo(16);
    }

    @Test
    void batchIsPaddedToItsLongestTextNotToTheMaximum() {
        TokenBatch batch = encoder.encode(List.of("short", SEED));

        assertThat(batch.length()).isEqualTo(16);
        assertThat(batch.tokenCount(0)).isEqualTo(3);
        assertThat(batch.attentionMask()).startsWith(1, 1, 1, 0);
        assertThat(batch.inputIds()[3]).isZero();
    }

    @Test
    void longTextIsTruncatedAtTheMaximumLength() {
        String text = String.join(" ", Collections.nCopies(400, "toxicology"));

        TokenBatch batch = encoder.encode(List.of(text));

        assertThat(batch.length()).isEqualTo(128);
        assertThat(batch.truncated()[0]).isTrue();
        assertThat(batch.inputIds()[127]).isEqualTo(102);
    }

    @Test
    void wordIdsGroupSubWordTokens() {
        TokenBatch batch = encoder.encode(List.of("bioavailability"));

        assertThat(batch.tokens()[0]).containsExactly("[CLS]", "bio", "##ava", "##ila", "##bility", "[SEP]");
        assertThat(batch.wordIds()[0]).containsExactly(-1, 0, 0, 0, 0, -1);
    }

    @Test
    void characterSpansAreStringIndicesAfterCharactersOutsideTheBasicPlane() {
        // each emoji is one code point, which DJL counts as one character, but two Java chars
        String text = "I \uD83D\uDE00 love it \uD83D\uDE00 so much";

        TokenBatch batch = encoder.encode(List.of(text));

        List<String> spans = new ArrayList<>();
        for (int j = 0; j < batch.tokens()[0].length; j++) {
            if (batch.charStarts()[0][j] >= 0) {
                spans.add(text.substring(batch.charStarts()[0][j], batch.charEnds()[0][j]));
            }
        }
        assertThat(spans).containsExactly("I", "\uD83D\uDE00", "love", "it", "\uD83D\uDE00", "so", "much");
    }

    @Test
    void aPairIsEncodedAsTheTokenizerEncodesPairsWithOffsetsIntoItsOwnText() {
        String text = "Is caffeine toxic?";
        String pair = "Caffeine \uD83D\uDE00 is toxic at high doses.";

        TokenBatch batch = encoder.encodePairs(List.of(text, "short"), List.of(pair, "one"), TextEncoder.Truncation.LONGEST_FIRST);

        assertThat(batch.paired()).isTrue();
        String[] tokens = batch.tokens()[0];
        int sep = java.util.Arrays.asList(tokens).indexOf("[SEP]");
        assertThat(tokens[0]).isEqualTo("[CLS]");
        assertThat(tokens[tokens.length - 1]).isEqualTo("[SEP]");
        long[] types = batch.types(0);
        for (int j = 0; j < tokens.length; j++) {
            // BERT's segments: [CLS] text [SEP] in 0, pair [SEP] in 1
            assertThat(types[j]).as("type of " + tokens[j]).isEqualTo(j <= sep ? 0 : 1);
            long sequence = batch.sequenceIds()[0][j];
            if (tokens[j].equals("[CLS]") || tokens[j].equals("[SEP]")) {
                assertThat(sequence).isEqualTo(-1);
                continue;
            }
            assertThat(sequence).isEqualTo(j < sep ? 0 : 1);
            // every span indexes into the text its token came from, the emoji counted as Java counts it
            String source = sequence == 0 ? text : pair;
            String surface = source.substring(batch.charStarts()[0][j], batch.charEnds()[0][j]);
            assertThat(tokens[j].equals("[UNK]") ? "\uD83D\uDE00" : tokens[j].replace("##", "")).isEqualTo(surface.equals("\uD83D\uDE00")
                    ? surface : surface.toLowerCase());
        }
        // the shorter pair is padded to the longer one
        assertThat(batch.tokenCount(1)).isEqualTo(5);
        assertThat(batch.length()).isEqualTo(tokens.length);
    }

    @Test
    void pairsLongerThanTheLimitAreCutAsAsked() throws Exception {
        String longText = String.join(" ", Collections.nCopies(200, "toxicology"));
        String shortText = "dose";
        try (TextEncoder narrow = TextEncoder.load(dir.resolve("tokenizer.json"), 16)) {
            TokenBatch longest = narrow.encodePairs(List.of(longText), List.of(shortText), TextEncoder.Truncation.LONGEST_FIRST);
            assertThat(longest.tokens()[0]).hasSize(16).contains("dose");
            TokenBatch first = narrow.encodePairs(List.of(longText), List.of(shortText), TextEncoder.Truncation.ONLY_FIRST);
            assertThat(first.tokens()[0]).hasSize(16).contains("dose");
            assertThat(first.truncated()[0]).isTrue();
            // only the second may be cut, and cutting it cannot bring the pair under the limit
            org.assertj.core.api.Assertions.assertThatThrownBy(
                    () -> narrow.encodePairs(List.of(longText), List.of(shortText), TextEncoder.Truncation.ONLY_SECOND))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("pair 0 cannot be cut to 16 tokens with truncation only_second");
        }
        assertThat(TextEncoder.Truncation.of("only_second")).isEqualTo(TextEncoder.Truncation.ONLY_SECOND);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> TextEncoder.Truncation.of("both"))
                .hasMessageContaining("longest_first, only_first or only_second");
    }

    @Test
    void cuttingFromTheLeftKeepsTheEndOfATextAndItsSpecialTokens() throws Exception {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 200; i++) {
            text.append("word").append(i).append(' ');
        }
        text.append("the end");
        String long_ = text.toString();

        TokenBatch left = encoder.encodeFromLeft(List.of(long_, "short text"), null, TextEncoder.Truncation.LONGEST_FIRST);

        assertThat(left.tokenCount(0)).isEqualTo(128);
        String[] tokens = left.tokens()[0];
        assertThat(tokens[0]).isEqualTo("[CLS]");
        assertThat(tokens[127]).isEqualTo("[SEP]");
        assertThat(tokens[125]).isEqualTo("the");
        assertThat(tokens[126]).isEqualTo("end");
        assertThat(long_.substring(left.charStarts()[0][126], left.charEnds()[0][126])).isEqualTo("end");
        assertThat(left.truncated()).containsExactly(true, false);
        // a text that fits is encoded as encode() does
        assertThat(left.ids(1)).containsExactly(encoder.encode(List.of("short text")).ids(0));
    }

    @Test
    void aPairCutFromTheLeftLosesTheStartOfItsLongerText() {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 200; i++) {
            text.append("alpha ");
        }
        text.append("omega");

        TokenBatch pair = encoder.encodePairs(List.of("short question"), List.of(text.toString()), TextEncoder.Truncation.LONGEST_FIRST);
        TokenBatch left = encoder.encodeFromLeft(List.of("short question"), List.of(text.toString()), TextEncoder.Truncation.LONGEST_FIRST);

        assertThat(left.tokenCount(0)).isEqualTo(128).isEqualTo(pair.tokenCount(0));
        // the right cut keeps the passage's start, the left cut its end
        assertThat(List.of(pair.tokens()[0])).doesNotContain("omega");
        assertThat(left.tokens()[0][126]).isEqualTo("omega");
        assertThat(List.of(left.tokens()[0]).subList(0, 4)).containsExactly("[CLS]", "short", "question", "[SEP]");
        assertThat(left.sequenceIds()[0][126]).isEqualTo(1);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> encoder.encodeFromLeft(List.of(text.toString()), List.of("x"), TextEncoder.Truncation.ONLY_SECOND))
                .hasMessageContaining("cannot be cut");
    }
}
