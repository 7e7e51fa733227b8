package dev.igate.gateway.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;

import org.junit.jupiter.api.Test;

class PublicReasonsTests {

    @Test
    void pathsUnderTheRepositoryBecomeRelativeAndOtherAbsolutePathsLoseTheirFolders() {
        Path repository = Path.of("/srv/igate/models");

        assertThat(PublicReasons.of("ONNX Runtime could not load model.onnx: Load model from /srv/igate/models/Broken/1/model.onnx"
                + " failed: Protobuf parsing failed.", repository))
                .isEqualTo("ONNX Runtime could not load model.onnx: Load model from Broken/1/model.onnx failed: Protobuf parsing failed.");
        assertThat(PublicReasons.of("java.nio.file.NoSuchFileException: /home/someone/secret/tokenizer.json", repository))
                .isEqualTo("java.nio.file.NoSuchFileException: tokenizer.json");
        assertThat(PublicReasons.of("warm-up inference failed: shape [1, 16] and 1/2 of the rows", repository))
                .isEqualTo("warm-up inference failed: shape [1, 16] and 1/2 of the rows");
    }

    @Test
    void storageUrlsTheOperatorSetStayWhole() {
        Path repository = Path.of("/srv/igate/models");

        assertThat(PublicReasons.of("storage s3://models/text/rotten not fetched: s3://models/text/rotten/1/model.onnx does not match its ETag",
                repository)).isEqualTo("storage s3://models/text/rotten not fetched: s3://models/text/rotten/1/model.onnx does not match its ETag");
        assertThat(PublicReasons.of("download of https://models.example.com/a/b.tar.gz answered HTTP 404 (cache /var/cache/igate/x.part)",
                repository)).isEqualTo("download of https://models.example.com/a/b.tar.gz answered HTTP 404 (cache x.part)");
    }

    @Test
    void aUrlsUserinfoAndQueryAreRedacted() {
        Path repository = Path.of("/srv/igate/models");

        assertThat(PublicReasons.of("download of https://models.example.com/m.tar.gz?X-Amz-Signature=deadbeef&X-Amz-Credential=AKIA answered"
                + " HTTP 403", repository)).isEqualTo("download of https://models.example.com/m.tar.gz?*** answered HTTP 403");
        assertThat(PublicReasons.of("storage https://admin:hunter2@models.example.com/m.zip not fetched: refused", repository))
                .isEqualTo("storage https://***@models.example.com/m.zip not fetched: refused");
    }
}
