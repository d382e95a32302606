package dev.ferry.junit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimProvider;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.HypervisorProvider;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.module.ModuleDescriptor;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.spi.ToolProvider;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ferry-core as another module meets it: this module (dev.ferry.junit) requires dev.ferry.core and
 * runs on the module path, so what it sees here is what any application module sees. The engine,
 * the wire protocol and the Flight Recorder events are in ferry-core but not exported; the public
 * API and the policies are.
 */
class ModuleEncapsulationTest {
  private static final Set<String> INTERNAL = Set.of("dev.ferry.engine", "dev.ferry.wire", "dev.ferry.jfr");

  @Test
  void ferryCore_asNamedModule_exportsOnlyThePublicApi() {
    Module core = Ferry.class.getModule();
    assertThat(core.isNamed()).as("ferry-core on the module path").isTrue();
    assertThat(core.getName()).isEqualTo("dev.ferry.core");
    // The internal packages are there, so their not being exported below is a real finding.
    assertThat(core.getPackages()).containsAll(INTERNAL);

    Set<String> exported = core.getDescriptor().exports().stream()
        .map(e -> e.source() + (e.isQualified() ? " to " + e.targets() : ""))
        .collect(Collectors.toSet());
    assertThat(exported).containsExactlyInAnyOrder("dev.ferry", "dev.ferry.policy");
    assertThat(core.getDescriptor().opens()).isEmpty();

    Module self = getClass().getModule();
    assertThat(self.getName()).isEqualTo("dev.ferry.junit");
    assertThat(core.isExported("dev.ferry", self)).isTrue();
    assertThat(core.isExported("dev.ferry.policy", self)).isTrue();
    for (String pkg : INTERNAL) {
      assertThat(core.isExported(pkg)).as(pkg).isFalse();
      assertThat(core.isExported(pkg, self)).as(pkg + " to " + self.getName()).isFalse();
    }
  }

  @Test
  void simBackend_asNamedModule_isProvidedAndConnectFindsIt() {
    Module sim = SimProvider.class.getModule();
    assertThat(sim.getName()).isEqualTo("dev.ferry.sim");
    assertThat(sim.getDescriptor().provides()).extracting(ModuleDescriptor.Provides::service,
        ModuleDescriptor.Provides::providers).containsExactly(
            org.assertj.core.groups.Tuple.tuple(HypervisorProvider.class.getName(), List.of(SimProvider.class.getName())));
    assertThat(DataSize.class.getModule().getName()).isEqualTo("dev.ferry.spi");
    assertThat(Ferry.class.getModule().getDescriptor().uses()).containsExactly(HypervisorProvider.class.getName());

    // Ferry.connect looks providers up from dev.ferry.core, which declares the use; the sim's
    // module answers through its provides clause (a named module's META-INF/services is not read).
    try (Host host = Ferry.connect("sim://module-encapsulation-test")) {
      assertThat(host.vms()).isEmpty();
    } finally {
      SimHost.destroyAll();
    }
  }

  @Test
  void compile_moduleImportingEngineOrWire_failsAsNotVisible(@TempDir Path dir) throws Exception {
    Result bad = compile(dir.resolve("bad"), """
        package probe;
        class Probe {
          dev.ferry.engine.SourceMigration migration;
          dev.ferry.wire.FrameWriter writer;
          dev.ferry.jfr.FlightRecorderListener listener;
        }
        """);
    assertThat(bad.exitCode).as(bad.output).isNotZero();
    assertThat(bad.output)
        .contains("package dev.ferry.engine is not visible")
        .contains("package dev.ferry.wire is not visible")
        .contains("package dev.ferry.jfr is not visible");
  }

  @Test
  void compile_moduleUsingPublicApiPolicyAndSpi_succeeds(@TempDir Path dir) throws Exception {
    // The same module set-up as above, with only exported packages: it compiles, so the failure
    // above comes from the encapsulation and not from the set-up.
    Result ok = compile(dir.resolve("ok"), """
        package probe;
        class Probe {
          dev.ferry.Ferry ferry;
          dev.ferry.policy.ConvergencePolicy policy = dev.ferry.policy.ConvergencePolicy.predictive();
          dev.ferry.spi.DataSize size = dev.ferry.spi.DataSize.mib(1);
        }
        """);
    assertThat(ok.exitCode).as(ok.output).isZero();
  }

  private record Result(int exitCode, String output) {}

  /** Compiles module {@code probe} (which requires dev.ferry.core) with javac, against the jars this test runs on. */
  private static Result compile(Path dir, String probeSource) throws IOException, URISyntaxException {
    Path src = dir.resolve("src");
    Files.createDirectories(src.resolve("probe"));
    Files.writeString(src.resolve("module-info.java"), "module probe { requires dev.ferry.core; }\n");
    Files.writeString(src.resolve("probe/Probe.java"), probeSource);
    String modulePath = location(Ferry.class) + java.io.File.pathSeparator + location(DataSize.class);
    ToolProvider javac = ToolProvider.findFirst("javac").orElseThrow(() -> new AssertionError("no javac in this JDK"));
    StringWriter out = new StringWriter();
    try (PrintWriter w = new PrintWriter(out)) {
      int code = javac.run(w, w, "--release", "17", "--module-path", modulePath, "-d", dir.resolve("out").toString(),
          src.resolve("module-info.java").toString(), src.resolve("probe/Probe.java").toString());
      w.flush();
      return new Result(code, out.toString());
    }
  }

  private static Path location(Class<?> c) throws URISyntaxException {
    return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI());
  }
}
