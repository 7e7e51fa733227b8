package dev.igate.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The build's guard against tests that never run: surefire takes {@code *Tests.java} and failsafe
 * {@code *IT.java} (the root pom), so a test class named otherwise is compiled and silently skipped.
 * This check reads every module's test sources and fails the build on such a class. It lives in the
 * first module of the reactor so that a misnamed class anywhere stops the build before anything
 * else is tested.
 */
class TestClassNamesTests {

    /** A JUnit Jupiter annotation that makes a method a test. */
    private static final Pattern TEST_METHOD = Pattern.compile("@(?:[\\w.]+\\.)?(Test|ParameterizedTest|RepeatedTest|TestFactory|TestTemplate)\\b");
    /** A class meant to be extended: its tests run in the subclasses, whose names are checked. */
    private static final Pattern ABSTRACT_CLASS = Pattern.compile("\\babstract\\s+class\\b");

    /** Test sources under {@code root} that hold tests but that no runner picks up, relative to {@code root}. */
    static List<String> unrunTestClasses(Path root) throws IOException {
        try (Stream<Path> files = Files.walk(root)) {
            return files.filter(p -> p.toString().endsWith(".java"))
                    .filter(p -> p.toString().contains("/src/test/java/"))
                    .filter(p -> !p.getFileName().toString().matches(".*(Tests|IT)\\.java"))
                    .filter(TestClassNamesTests::holdsTests)
                    .map(p -> root.relativize(p).toString()).sorted().toList();
        }
    }

    private static boolean holdsTests(Path source) {
        try {
            String text = Files.readString(source);
            return TEST_METHOD.matcher(text).find() && !ABSTRACT_CLASS.matcher(text).find();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The repository's root: the folder above this module (surefire runs in the module's folder). */
    private static Path repositoryRoot() {
        Path module = Path.of("").toAbsolutePath();
        Path root = module.getParent();
        assertThat(root.resolve("pom.xml")).as("the aggregator pom above %s", module).isRegularFile();
        return root;
    }

    @Test
    void everyTestClassInTheRepositoryMatchesARunner() throws IOException {
        assertThat(unrunTestClasses(repositoryRoot()))
                .as("test classes whose names end in neither Tests.java (surefire) nor IT.java (failsafe) never run: rename them")
                .isEmpty();
    }

    @Test
    void aMisnamedTestClassIsFoundAndHelpersAreNot(@TempDir Path root) throws IOException {
        Path tests = Files.createDirectories(root.resolve("m/src/test/java/x"));
        Files.writeString(tests.resolve("QueueTest.java"), "class QueueTest { @Test void a() { } }");
        Files.writeString(tests.resolve("Cases.java"), "class Cases { @org.junit.jupiter.params.ParameterizedTest void a(int i) { } }");
        Files.writeString(tests.resolve("QueueTests.java"), "class QueueTests { @Test void a() { } }");
        Files.writeString(tests.resolve("ServerIT.java"), "class ServerIT { @Test void a() { } }");
        Files.writeString(tests.resolve("Support.java"), "class Support { static void help() { } }");
        Files.writeString(tests.resolve("Boot.java"), "@SpringBootTest @interface Boot { }");
        Files.writeString(tests.resolve("Contract.java"), "abstract class Contract { @Test void a() { } }");
        Files.createDirectories(root.resolve("m/src/main/java/x"));
        Files.writeString(root.resolve("m/src/main/java/x/Main.java"), "class Main { @Test void notATest() { } }");

        assertThat(unrunTestClasses(root)).containsExactly("m/src/test/java/x/Cases.java", "m/src/test/java/x/QueueTest.java");
    }
}
