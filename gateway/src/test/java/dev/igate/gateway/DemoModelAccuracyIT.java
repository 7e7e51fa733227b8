package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.util.List;

import dev.igate.demo.LabelledSentence;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.springframework.http.MediaType;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** Recomputes each demo version's held-out accuracy through the server and checks the recorded figure. */
class DemoModelAccuracyIT extends ServerTestSupport {

    static final JsonMapper JSON = JsonMapper.builder().build();

    @ParameterizedTest
    @ValueSource(strings = {"1", "2"})
    void heldOutAccuracyMatchesTheRecordedFigure(String version) throws Exception {
        List<LabelledSentence> test = LabelledSentence.dataset().stream().filter(LabelledSentence::test).toList();
        StringBuilder data = new StringBuilder();
        for (LabelledSentence s : test) {
            data.append(data.isEmpty() ? "" : ",").append(JSON.writeValueAsString(s.text()));
        }
        String body = "{\"inputs\": [{\"name\": \"text\", \"shape\": [" + test.size() + "], \"datatype\": \"BYTES\", \"data\": ["
                + data + "]}]}";

        byte[] response = client.post().uri("/v2/models/{m}/versions/{v}/infer", MODEL, version)
                .contentType(MediaType.APPLICATION_JSON).bodyValue(body)
                .exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody();
        List<JsonNode> labels = List.copyOf(JSON.readTree(response).at("/outputs/0/data").values());
        int correct = 0;
        for (int i = 0; i < test.size(); i++) {
            correct += labels.get(i).stringValue().equals(test.get(i).label()) ? 1 : 0;
        }

        JsonNode recorded = JSON.readTree(Files.readAllBytes(DEMO_REPOSITORY.resolve(MODEL).resolve(version).resolve("training.json")));
        assertThat(recorded.get("heldout_sentences").intValue()).isEqualTo(test.size());
        assertThat(correct).isEqualTo(recorded.get("heldout_correct").intValue());
        assertThat(recorded.get("heldout_accuracy").doubleValue()).isEqualTo(Math.round(10000.0 * correct / test.size()) / 10000.0)
                .isGreaterThanOrEqualTo(0.85);
    }
}
