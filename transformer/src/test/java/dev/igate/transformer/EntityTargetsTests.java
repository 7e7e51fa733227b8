package dev.igate.transformer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class EntityTargetsTests {

    static final List<String> LABELS = List.of("O", "B-PER", "I-PER", "B-LOC", "I-LOC");
    static TextEncoder encoder;

    @BeforeAll
    static void load(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        encoder = TextEncoderTests.miniLm(dir);
    }

    @AfterAll
    static void close() {
        encoder.close();
    }

    static TokenClassification task() {
        return (TokenClassification) Task.of(Task.TOKEN_CLASSIFICATION, LABELS).forRequest(Map.of());
    }

    @Test
    void anEntityWeighsItsFirstTokensBTagAndTheOthersITagsOverEveryTokenItCovers() {
        String text = "In 🍰 John Smith";
        TokenBatch batch = encoder.encode(List.of(text));
        // code points: "John Smith" starts at 5 (the emoji is one code point, two Java chars)
        Prediction.Entity person = EntityTargets.choose("{\"start\": 5, \"end\": 15, \"label\": \"PER\"}", List.of(), text, task());
        assertThat(person.word()).isEqualTo("John Smith");

        float[] w = EntityTargets.weights(batch, text, person, LABELS);

        int seq = batch.ids(0).length;
        int john = List.of(batch.tokens()[0]).indexOf("john");
        int smith = List.of(batch.tokens()[0]).indexOf("smith");
        double total = 0;
        for (float v : w) {
            total += v;
        }
        assertThat(w).hasSize(seq * LABELS.size());
        assertThat(total).isEqualTo(2.0);
        assertThat(w[john * LABELS.size() + 1]).isEqualTo(1f);
        assertThat(w[smith * LABELS.size() + 2]).isEqualTo(1f);
    }

    @Test
    void anIndexPicksAnEntityFoundAndBadEntitiesAreRefusedByName() {
        Prediction.Entity found = new Prediction.Entity("LOC", 0.9f, "York", 0, 4, -1);
        assertThat(EntityTargets.choose(0L, List.of(found), "York", task())).isSameAs(found);
        assertThat(EntityTargets.choose("0", List.of(found), "York", task())).isSameAs(found);
        assertThat(EntityTargets.choose(null, List.of(found), "York", task())).isSameAs(found);
        assertThatThrownBy(() -> EntityTargets.choose(1L, List.of(found), "York", task())).hasMessageContaining("not an index of the 1");
        assertThatThrownBy(() -> EntityTargets.choose(null, List.of(), "nothing here", task())).hasMessageContaining("found no entity");
        assertThatThrownBy(() -> EntityTargets.choose("{\"start\": 2, \"end\": 9, \"label\": \"LOC\"}", List.of(), "York", task()))
                .hasMessageContaining("0 <= start < end <= 4");
        assertThatThrownBy(() -> EntityTargets.choose("{\"start\": 0, \"end\": 4, \"label\": \"ORG\"}", List.of(), "York", task()))
                .hasMessageContaining("must be one of the model's labels");
        assertThatThrownBy(() -> EntityTargets.choose(true, List.of(), "York", task())).hasMessageContaining("must be an index");
    }
}
