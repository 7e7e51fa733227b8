package dev.igate.gateway.web;


import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;

/** JSON bodies that the codecs already encoded, as response entities. */
final class JsonResponses {

    static final String VERSION_HEADER = "X-Model-Version";

    private JsonResponses() {
    }

    static ResponseEntity<byte[]> ok(byte[] json) {
        return ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON).body(json);
    }

    static ResponseEntity<byte[]> ok(byte[] json, String modelVersion) {
        return ResponseEntity.ok().contentType(MediaType.APPLICATION_JSON).header(VERSION_HEADER, modelVersion).body(json);
    }

    static ResponseEntity<byte[]> status(HttpStatus status, byte[] json) {
        return ResponseEntity.status(status).contentType(MediaType.APPLICATION_JSON).body(json);
    }
}
