package dev.igate.gateway;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/** The layout's rules, over the compiled classes of every module (ArchUnit). */
class ArchitectureTests {

    static final JavaClasses CLASSES = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("dev.igate");

    @Test
    void noPackageDependsOnItselfThroughAnother() {
        slices().matching("dev.igate.(**)").should().beFreeOfCycles().check(CLASSES);
    }

    @Test
    void theServingCodeDoesNotDependOnTheDemoModule() {
        noClasses().that().resideInAPackage("dev.igate.gateway..").should().dependOnClassesThat().resideInAPackage("dev.igate.demo..")
                .check(CLASSES);
    }
}
