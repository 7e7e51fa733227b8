package dev.igate.demo;

import java.io.IOException;
import java.nio.file.Path;

import dev.igate.predictor.ModelLoadException;
import dev.igate.predictor.RepositorySeed;

/** The demo models as a repository seed (registered in META-INF/services for {@link java.util.ServiceLoader}). */
public final class DemoSeed implements RepositorySeed {

    @Override
    public void ensure(Path root) throws IOException, ModelLoadException {
        DemoRepository.ensure(root);
    }
}
