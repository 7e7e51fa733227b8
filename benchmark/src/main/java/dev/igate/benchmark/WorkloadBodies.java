package dev.igate.benchmark;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import tools.jackson.databind.json.JsonMapper;

/**
 * Writes the request bodies of the serving benchmark's workloads, JSON-escaped: for the ~128-token
 * text one V1 and one V2 body ({@code v1-long.json}, {@code v2-long.json}), and for the mixed
 * workload one body per line and text ({@code v1-mix.lines}, {@code v2-mix.lines}), which
 * {@code mix.lua} has wrk send in turn.
 *
 * <p>Usage: {@code WorkloadBodies dir}.
 */
public final class WorkloadBodies {

    private static final JsonMapper JSON = JsonMapper.builder().build();

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args[0]);
        String longText = Workload.lines(Workload.LONG_RESOURCE).get(0);
        Files.writeString(dir.resolve("v1-long.json"), v1(longText), StandardCharsets.UTF_8);
        Files.writeString(dir.resolve("v2-long.json"), v2(longText), StandardCharsets.UTF_8);
        List<String> v1 = new ArrayList<>();
        List<String> v2 = new ArrayList<>();
        for (String text : Workload.lines(Workload.MIX_RESOURCE)) {
            v1.add(v1(text));
            v2.add(v2(text));
        }
        Files.write(dir.resolve("v1-mix.lines"), v1, StandardCharsets.UTF_8);
        Files.write(dir.resolve("v2-mix.lines"), v2, StandardCharsets.UTF_8);
    }

    static String v1(String text) {
        return "{\"instances\": [" + JSON.writeValueAsString(text) + "]}";
    }

    static String v2(String text) {
        return "{\"inputs\": [{\"name\": \"text\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": ["
                + JSON.writeValueAsString(text) + "]}]}";
    }
}
