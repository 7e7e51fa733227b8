package dev.igate.predictor;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Models put into the repository at start when it lacks them ({@code igate.demo-models}): the demo
 * module provides one, found at run time with {@link java.util.ServiceLoader}, so the serving code
 * does not depend on it.
 */
public interface RepositorySeed {

    /**
     * Puts this seed's models into {@code root} unless they are there already. Blocking.
     *
     * @throws ModelLoadException when a model cannot be built
     */
    void ensure(Path root) throws IOException, ModelLoadException;

    /** Whether this seed's models are the task demos ({@code igate.demo-task-models}), not the seed classifier. */
    default boolean taskModels() {
        return false;
    }
}
