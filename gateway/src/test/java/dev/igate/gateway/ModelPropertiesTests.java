package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;

import org.junit.jupiter.api.Test;

class ModelPropertiesTests {

    static ModelProperties task(String task, String aggregation, List<String> ignore) {
        return ModelProperties.BUILT_IN.overriddenBy(new ModelProperties(null, null, null, null, null, null, null, null, null, null,
                null, null, null, null, null, null, null, null, null, null, task, aggregation, ignore, null, null, null, null, null));
    }

    @Test
    void taskSettingsAreCheckedNamingTheKeyAndBecomeTheTasksDefaults() {
        assertThatThrownBy(() -> task("ner", null, null).validate("igate.models.M"))
                .hasMessageStartingWith("igate.models.M.task must be one of").hasMessageContaining("token_classification");
        assertThatThrownBy(() -> task(null, "longest", null).validate("igate.models.M"))
                .hasMessageStartingWith("igate.models.M.aggregation-strategy").hasMessageContaining("longest");
        ModelProperties ok = task("token_classification", "first", List.of("O", "MISC"));
        ok.validate("igate.models.M");
        assertThat(ok.taskDefaults()).containsEntry("aggregation_strategy", "first").containsEntry("ignore_labels", "O,MISC");
        assertThat(ModelProperties.BUILT_IN.taskDefaults()).isEmpty();
    }

    static ModelProperties quantize(String quantize, Double minAgreement) {
        return quantize(quantize, null, minAgreement);
    }

    static ModelProperties quantize(String quantize, String activations, Double minAgreement) {
        return ModelProperties.BUILT_IN.overriddenBy(new ModelProperties(null, null, null, null, null, null, null, null, null, null,
                null, null, null, null, null, null, null, null, null, null, null, null, null, null, quantize, null, activations,
                minAgreement));
    }

    @Test
    void quantizationSettingsAreCheckedNamingTheKeyAndDefaultToFp32PerChannelPerTokenAt99Percent() {
        assertThatThrownBy(() -> quantize("fp16", null).validate("igate.models.M"))
                .hasMessage("igate.models.M.quantize must be none or int8, was fp16");
        assertThatThrownBy(() -> quantize("int8", 1.5).validate("igate.models.M"))
                .hasMessage("igate.models.M.quantize-min-agreement must be between 0 and 1, was 1.5");
        assertThatThrownBy(() -> quantize("int8", "per-row", null).validate("igate.models.M"))
                .hasMessage("igate.models.M.quantize-activations must be per-token or per-tensor, was per-row");
        quantize("INT8", 0.95).validate("igate.models.M");
        assertThat(quantize("int8", "Per-Tensor", null).quantizePerToken()).isFalse();
        assertThat(ModelProperties.BUILT_IN.quantizePerToken()).isTrue();
        assertThat(quantize("INT8", null).int8()).isTrue();
        assertThat(ModelProperties.BUILT_IN.int8()).isFalse();
        assertThat(ModelProperties.BUILT_IN.quantizePerChannel()).isTrue();
        assertThat(ModelProperties.BUILT_IN.quantizeMinAgreement()).isEqualTo(0.99);
    }
}
