package dev.igate.demo;

import java.io.IOException;
import java.nio.file.Path;

import dev.igate.predictor.ModelLoadException;
import dev.igate.predictor.RepositorySeed;

/** The task demo models as a repository seed (registered in META-INF/services for {@link java.util.ServiceLoader}). */
public final class TaskDemoSeed implements RepositorySeed {

    @Override
    public void ensure(Path root) throws IOException, ModelLoadException {
        TaskDemos.ensure(root);
    }

    @Override
    public boolean taskModels() {
        return true;
    }
}
