package dev.igate.demo;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The task demo models' data, {@code tasks.tsv}: for named entities, sentence templates and
 * lexicons of chemicals, species, doses and organs (train and test parts share neither templates
 * nor names, so the held-out score is on unseen sentences and unseen entities); for pairs, phrases
 * naming each topic of {@link LabelledSentence#dataset()}, hypothesis templates, hypotheses that a
 * sentence neither entails nor contradicts, and search queries per topic (train and test).
 */
record TaskData(List<String> entityTypes, Map<String, List<String>> trainLexicon, Map<String, List<String>> testLexicon,
                List<String> trainTemplates, List<String> testTemplates, Map<String, List<String>> topics,
                List<String> hypotheses, List<String> neutral, Map<String, List<String>> trainQueries,
                Map<String, List<String>> testQueries) {

    static final String RESOURCE = "/dev/igate/demo/tasks.tsv";
    private static final Pattern SLOT = Pattern.compile("\\{([A-Z]+)}");

    /** A generated sentence and its entities. */
    record Annotated(String text, List<Span> spans) {
    }

    /** An entity: its type and its characters {@code [start, end)} as String indices. */
    record Span(String type, int start, int end) {
    }

    static TaskData read() throws IOException {
        List<String> types = new ArrayList<>();
        Map<String, List<String>> trainLexicon = new LinkedHashMap<>();
        Map<String, List<String>> testLexicon = new LinkedHashMap<>();
        List<String> trainTemplates = new ArrayList<>();
        List<String> testTemplates = new ArrayList<>();
        Map<String, List<String>> topics = new LinkedHashMap<>();
        List<String> hypotheses = new ArrayList<>();
        List<String> neutral = new ArrayList<>();
        Map<String, List<String>> trainQueries = new LinkedHashMap<>();
        Map<String, List<String>> testQueries = new LinkedHashMap<>();
        try (InputStream in = TaskData.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IOException("demo data set " + RESOURCE + " is missing from the classpath");
            }
            BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            String header = reader.readLine();
            if (!"kind\tsplit\tkey\tvalue".equals(header)) {
                throw new IOException("unexpected header in " + RESOURCE + ": " + header);
            }
            for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                if (line.isBlank()) {
                    continue;
                }
                String[] f = line.split("\t", -1);
                if (f.length != 4) {
                    throw new IOException("malformed line in " + RESOURCE + ": " + line);
                }
                boolean test = f[1].equals("test");
                switch (f[0]) {
                    case "TEMPLATE" -> (test ? testTemplates : trainTemplates).add(f[3]);
                    case "TOPIC" -> topics.computeIfAbsent(f[2], k -> new ArrayList<>()).add(f[3]);
                    case "HYPOTHESIS" -> hypotheses.add(f[3]);
                    case "NEUTRAL" -> neutral.add(f[3]);
                    case "QUERY" -> (test ? testQueries : trainQueries).computeIfAbsent(f[2], k -> new ArrayList<>()).add(f[3]);
                    default -> {
                        if (!types.contains(f[0])) {
                            types.add(f[0]);
                        }
                        (test ? testLexicon : trainLexicon).computeIfAbsent(f[0], k -> new ArrayList<>()).add(f[3]);
                    }
                }
            }
        }
        return new TaskData(types, trainLexicon, testLexicon, trainTemplates, testTemplates, topics, hypotheses, neutral,
                trainQueries, testQueries);
    }

    /** {@code count} sentences from the train or test templates, each slot filled from the train or test lexicon. */
    List<Annotated> sentences(boolean testTemplates, boolean testNames, int count, long seed) {
        List<String> templates = testTemplates ? this.testTemplates : trainTemplates;
        Map<String, List<String>> lexicon = testNames ? testLexicon : trainLexicon;
        Random random = new Random(seed);
        List<Annotated> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            String template = templates.get(i % templates.size());
            StringBuilder text = new StringBuilder();
            List<Span> spans = new ArrayList<>();
            Matcher m = SLOT.matcher(template);
            int last = 0;
            while (m.find()) {
                text.append(template, last, m.start());
                List<String> names = lexicon.get(m.group(1));
                String name = names.get(random.nextInt(names.size()));
                spans.add(new Span(m.group(1), text.length(), text.length() + name.length()));
                text.append(name);
                last = m.end();
            }
            text.append(template.substring(last));
            // a sentence starts with a capital letter, whatever fills its first slot
            String s = text.toString();
            out.add(new Annotated(Character.toUpperCase(s.charAt(0)) + s.substring(1), spans));
        }
        return out;
    }

    /** The BIO labels of the entity types: {@code O}, then {@code B-} and {@code I-} of each type. */
    List<String> bioLabels() {
        List<String> labels = new ArrayList<>();
        labels.add("O");
        for (String type : entityTypes) {
            labels.add("B-" + type);
            labels.add("I-" + type);
        }
        return labels;
    }
}
