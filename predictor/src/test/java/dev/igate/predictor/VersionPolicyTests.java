package dev.igate.predictor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;

import org.junit.jupiter.api.Test;

class VersionPolicyTests {

    static final List<String> VERSIONS = List.of("1", "2", "3", "10");

    @Test
    void allLatestAndSpecificPickAsTritonsVersionPolicy() {
        assertThat(VersionPolicy.parse(null).select(VERSIONS)).isEqualTo(VERSIONS);
        assertThat(VersionPolicy.parse("all").select(VERSIONS)).isEqualTo(VERSIONS);
        assertThat(VersionPolicy.parse("latest").select(VERSIONS)).containsExactly("10");
        assertThat(VersionPolicy.parse("latest:2").select(VERSIONS)).containsExactly("3", "10");
        assertThat(VersionPolicy.parse("latest:9").select(VERSIONS)).isEqualTo(VERSIONS);
        assertThat(VersionPolicy.parse("specific:1,10,7").select(VERSIONS)).containsExactly("1", "10");
    }

    @Test
    void anythingElseIsRefusedNamingTheForms() {
        assertThatThrownBy(() -> VersionPolicy.parse("newest")).hasMessageContaining("all, latest, latest:N or specific:v1,v2");
        assertThatThrownBy(() -> VersionPolicy.parse("latest:0")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> VersionPolicy.parse("specific:")).isInstanceOf(IllegalArgumentException.class);
    }
}
