package dev.igate.protocol.v2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import dev.igate.protocol.Datatype;
import dev.igate.protocol.InferenceRequest;
import dev.igate.protocol.InferenceResponse;
import dev.igate.protocol.InvalidInputException;
import dev.igate.protocol.Json;
import dev.igate.protocol.Tensor;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

class V2CodecTests {

    static final String SEED = """
            {"id": "d3b15cad-50a2-4eaf-80ce-8b0a428bd298",
             "inputs": [{"name": "4b7c7d4a-51e4-43c8-af61-04639f6ef4bc", "shape": -1, "datatype": "BYTES",
                         "data": "{\\"text\\":\\"Risk assessment implications of site-specific oral relative bioavailability.\\"}"}]}
            """;

    static InferenceRequest decode(String json) {
        return V2Codec.decodeInfer("m", null, json.getBytes(StandardCharsets.UTF_8));
    }

    static void rejects(String json, String messagePart) {
        assertThatThrownBy(() -> decode(json)).isInstanceOf(InvalidInputException.class).hasMessageContaining(messagePart);
    }

    @Test
    void seedRequestDecodesToAScalarTextWhoseJsonWrapperUnwraps() {
        InferenceRequest request = decode(SEED);

        assertThat(request.id()).isEqualTo("d3b15cad-50a2-4eaf-80ce-8b0a428bd298");
        Tensor input = request.inputs().get(0);
        assertThat(input.datatype()).isEqualTo(Datatype.BYTES);
        assertThat(input.shape()).isEmpty();
        assertThat(TextInputs.texts(input))
                .containsExactly("Risk assessment implications of site-specific oral relative bioavailability.");
    }

    @Test
    void bareMinusOneShapeWithAnArrayTakesTheArrayLength() {
        Tensor t = decode("{\"inputs\":[{\"name\":\"x\",\"shape\":-1,\"datatype\":\"BYTES\",\"data\":[\"a\",\"b\"]}]}").inputs().get(0);

        assertThat(t.shape()).containsExactly(2);
        assertThat(t.strings()).containsExactly("a", "b");
    }

    @Test
    void nestedDataMatchingTheShapeIsFlattenedRowMajor() {
        Tensor t = decode("{\"inputs\":[{\"name\":\"x\",\"shape\":[2,3],\"datatype\":\"INT64\",\"data\":[[1,2,3],[4,5,6]]}]}").inputs().get(0);

        assertThat(t.longs()).containsExactly(1, 2, 3, 4, 5, 6);
    }

    @Test
    void oneMinusOneDimensionIsInferredFromTheData() {
        Tensor t = decode("{\"inputs\":[{\"name\":\"x\",\"shape\":[-1,2],\"datatype\":\"FP32\",\"data\":[1,2,3,4]}]}").inputs().get(0);

        assertThat(t.shape()).containsExactly(2, 2);
        assertThat(t.floats()).containsExactly(1f, 2f, 3f, 4f);
    }

    @Test
    void malformedJsonIsRejected() {
        rejects("{\"inputs\": [", "Malformed JSON");
        rejects("", "empty");
        rejects("[1,2]", "JSON object");
    }

    @Test
    void dataLengthMustAgreeWithShape() {
        rejects("{\"inputs\":[{\"name\":\"x\",\"shape\":[3],\"datatype\":\"INT64\",\"data\":[1,2]}]}", "3 elements) but 2");
    }

    @Test
    void raggedNestedDataIsRejected() {
        rejects("{\"inputs\":[{\"name\":\"x\",\"shape\":[2,2],\"datatype\":\"INT64\",\"data\":[[1,2],[3]]}]}", "ragged");
        rejects("{\"inputs\":[{\"name\":\"x\",\"shape\":[3],\"datatype\":\"INT64\",\"data\":[1,[2],3]}]}", "ragged");
    }

    @Test
    void nestedDataDisagreeingWithTheShapeIsRejected() {
        rejects("{\"inputs\":[{\"name\":\"x\",\"shape\":[3,2],\"datatype\":\"INT64\",\"data\":[[1,2,3],[4,5,6]]}]}", "nested data of shape [2, 3]");
    }

    @Test
    void valuesOfTheWrongTypeAreRejected() {
        rejects("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"INT64\",\"data\":[\"a\"]}]}", "holds a string");
        rejects("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"INT64\",\"data\":[1.5]}]}", "holds the number 1.5");
        rejects("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[1]}]}", "holds the number 1");
        rejects("{\"inputs\":[{\"name\":\"x\",\"shape\":\"x\",\"datatype\":\"BYTES\",\"data\":[\"a\"]}]}", "\"shape\" must be");
    }

    @Test
    void outOfRangeNumbersAreRejected() {
        rejects("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"INT8\",\"data\":[300]}]}", "out of range for INT8");
        rejects("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"UINT32\",\"data\":[-1]}]}", "out of range for UINT32");
        rejects("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1e300]}]}", "out of range for FP32");
        rejects("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"INT64\",\"data\":[99999999999999999999999]}]}", "INT64");
    }

    @Test
    void unknownDatatypeListsTheKnownOnes() {
        rejects("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FLOAT\",\"data\":[1]}]}", "Unknown datatype FLOAT, expected one of [BOOL");
    }

    @Test
    void duplicateInputNamesAndDuplicateKeysAreRejected() {
        rejects("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"INT64\",\"data\":[1]},"
                + "{\"name\":\"x\",\"shape\":[1],\"datatype\":\"INT64\",\"data\":[1]}]}", "Duplicate input name x");
        rejects("{\"inputs\":[],\"inputs\":[]}", "Malformed JSON");
    }

    @Test
    void missingOrEmptyInputsAreRejected() {
        rejects("{}", "\"inputs\" must be a non-empty array");
        rejects("{\"inputs\":[]}", "\"inputs\" must be a non-empty array");
        rejects("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"INT64\"}]}", "has no \"data\"");
    }

    @Test
    void requestedOutputsAndParametersAreRead() {
        InferenceRequest r = decode("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"BOOL\",\"data\":[true]}],"
                + "\"outputs\":[{\"name\":\"probabilities\"}],\"parameters\":{\"return_probabilities\":true,\"n\":3}}");

        assertThat(r.requestedOutputs()).containsExactly("probabilities");
        assertThat(r.flag("return_probabilities")).isTrue();
        assertThat(r.parameters()).containsEntry("n", 3L);
    }

    @Test
    void responseEncodesIdVersionAndFlatData() {
        InferenceResponse response = new InferenceResponse("abc", "m", "1",
                List.of(Tensor.ofStrings("predict", new long[0], "Pharma-Toxico"),
                        Tensor.ofFloats("probabilities", new long[] {1, 2}, new float[] {0.25f, 0.75f})), Map.of());

        JsonNode json = Json.MAPPER.readTree(V2Codec.encodeInfer(response));

        assertThat(json.get("id").stringValue()).isEqualTo("abc");
        assertThat(json.get("model_name").stringValue()).isEqualTo("m");
        assertThat(json.get("model_version").stringValue()).isEqualTo("1");
        assertThat(json.at("/outputs/0/shape").isEmpty()).isTrue();
        assertThat(json.at("/outputs/0/data/0").stringValue()).isEqualTo("Pharma-Toxico");
        assertThat(json.at("/outputs/1/data/1").floatValue()).isEqualTo(0.75f);
    }
}
