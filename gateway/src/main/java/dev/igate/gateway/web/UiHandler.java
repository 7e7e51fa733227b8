package dev.igate.gateway.web;

import java.net.URI;

import org.springframework.http.HttpStatus;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/** {@code /ui}: the explanation page, plain HTML, CSS and JavaScript served from {@code static/ui}. */
@RestController
public class UiHandler {

    @GetMapping({"/ui", "/ui/"})
    public ResponseEntity<Void> page() {
        return ResponseEntity.status(HttpStatus.FOUND).location(URI.create("/ui/index.html")).build();
    }
}
