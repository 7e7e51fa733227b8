package dev.igate.demo;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * One line of the demo data set, {@code abstracts.tsv}: short scientific-abstract-style
 * sentences with a topic label and a train/test split.
 */
public record LabelledSentence(boolean test, String label, String text) {

    public static final String RESOURCE = "/dev/igate/demo/abstracts.tsv";

    /** Reads the data set that ships in this module's resources. */
    public static List<LabelledSentence> dataset() throws IOException {
        try (InputStream in = LabelledSentence.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IOException("demo data set " + RESOURCE + " is missing from the classpath");
            }
            BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            List<LabelledSentence> out = new ArrayList<>();
            String header = reader.readLine();
            if (!"split\tlabel\ttext".equals(header)) {
                throw new IOException("unexpected header in " + RESOURCE + ": " + header);
            }
            for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                if (line.isBlank()) {
                    continue;
                }
                String[] f = line.split("\t", -1);
                if (f.length != 3 || !(f[0].equals("train") || f[0].equals("test"))) {
                    throw new IOException("malformed line in " + RESOURCE + ": " + line);
                }
                out.add(new LabelledSentence(f[0].equals("test"), f[1], f[2]));
            }
            return out;
        }
    }

    /** Labels in order of first appearance: index i of this list is class i. */
    public static List<String> labels(List<LabelledSentence> data) {
        return data.stream().map(LabelledSentence::label).distinct().toList();
    }
}
