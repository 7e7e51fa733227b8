package dev.igate.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;

import org.junit.jupiter.api.Test;

class ModelPropertiesTests {

    static ModelProperties task(String task, String aggregation, List<String> ignore) {
        return ModelProperties.BUILT_IN.overriddenBy(new ModelProperties(null, null, null, null, null, null, null, null, null, null,
                null, null, null, null, null, null, null, null, null, null, task, aggregation, ignore, null));
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
}
