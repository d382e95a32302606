package dev.ferry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.VmState;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The public API as an application sees it, on the simulated hypervisor. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FerryApiTest {

  @AfterEach
  void cleanUp() {
    SimHost.destroyAll();
  }

  @Test
  void connect_unknownScheme_listsEveryProviderAndWhyItDeclined() {
    assertThatThrownBy(() -> Ferry.connect("vmware://esx-1"))
        .isInstanceOf(NoProviderException.class)
        .hasMessageContaining("vmware://esx-1")
        .hasMessageContaining("sim:")
        .satisfies(e -> assertThat(((NoProviderException) e).declined()).anyMatch(d -> d.startsWith("sim")));
  }

  @Test
  void connect_notAUri_saysSo() {
    assertThatThrownBy(() -> Ferry.connect("sim://bad host"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("sim://bad host");
  }

  @Test
  void connect_malformedSimUri_namesTheBadPart() {
    assertThatThrownBy(() -> Ferry.connect("sim://a?memory=lots"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("memory");
  }

  @Test
  void connect_forcedProviderThatIsAbsent_isRefused() {
    System.setProperty(Ferry.PROVIDER_PROPERTY, "libvirt");
    try {
      assertThatThrownBy(() -> Ferry.connect("sim://a"))
          .isInstanceOf(NoProviderException.class)
          .hasMessageContaining("-Dferry.provider=libvirt");
    } finally {
      System.clearProperty(Ferry.PROVIDER_PROPERTY);
    }
  }

  @Test
  void providers_findsSim() {
    assertThat(Ferry.providers()).contains("sim");
  }

  @Test
  void vm_unknownName_listsTheNamesTheHostHas() {
    SimHost.named("api-a").createVm(SimVmSpec.builder("db-1").memory(DataSize.mib(8)).build());
    try (Host a = Ferry.connect("sim://api-a")) {
      assertThat(a.vms()).extracting(Vm::name).containsExactly("db-1");
      assertThatThrownBy(() -> a.vm("web-1"))
          .isInstanceOf(VmNotFoundException.class)
          .hasMessageContaining("web-1")
          .hasMessageContaining("db-1");
    }
  }

  @Test
  void migrate_throughThePublicApi_movesTheVm() throws Exception {
    SimHost.named("api-src").createVm(SimVmSpec.builder("web-1").memory(DataSize.mib(32)).vcpus(2)
        .workload(Workload.hotSet(3000)).build());
    try (Host a = Ferry.connect("sim://api-src"); Host b = Ferry.connect("sim://api-dst")) {
      Vm vm = a.vm("web-1");
      assertThat(vm.supportsLiveMigration()).isTrue();
      MigrationSession s = a.migrate(vm, b.target(), MigrationOptions.builder()
          .maxDowntime(Duration.ofMillis(300)).deadline(Duration.ofSeconds(30)).verify(true).build());
      MigrationResult r = s.completion().get(30, TimeUnit.SECONDS);
      assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(MigrationResult.Outcome.COMPLETED);
      assertThat(r.verified()).isTrue();
      assertThat(s.phase()).isEqualTo(Phase.ENDED);
      assertThat(s.cancel()).as("too late to cancel").isFalse();
      assertThat(a.vms()).isEmpty();
      assertThat(b.vm("web-1").state()).isEqualTo(VmState.RUNNING);
      assertThat(b.vm("web-1").id()).isEqualTo(vm.id());
    }
  }

  @Test
  void migrate_vmAlreadyBeingMigrated_isRefusedAndTheFirstMigrationIsUntouched() throws Exception {
    SimHost.named("api-twice").createVm(SimVmSpec.builder("web-1").memory(DataSize.mib(32)).vcpus(2)
        .workload(Workload.uniform(2000)).build()).fillRandom(1);
    try (Host a = Ferry.connect("sim://api-twice"); Host b = Ferry.connect("sim://api-twice-b")) {
      Vm vm = a.vm("web-1");
      MigrationSession first = a.migrate(vm, b.target(), MigrationOptions.builder()
          .bandwidthLimit(Bandwidth.mbps(40)).verify(true).build());
      assertThatThrownBy(() -> a.migrate(vm, b.target(), MigrationOptions.defaults()))
          .as("even before the first has started its dirty log")
          .isInstanceOf(MigrationRefusedException.class)
          .hasMessageContaining("being migrated already");
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (first.phase() != Phase.PRE_COPY && System.nanoTime() < deadline) {
        Thread.sleep(5);
      }
      assertThat(first.phase()).isEqualTo(Phase.PRE_COPY);
      assertThatThrownBy(() -> a.migrate(vm, b.target(), MigrationOptions.defaults()))
          .isInstanceOf(MigrationRefusedException.class)
          .hasMessageContaining("being migrated already");
      assertThatThrownBy(() -> Ferry.plan(vm, Bandwidth.mbps(100), MigrationOptions.defaults(), Duration.ofMillis(100)))
          .isInstanceOf(MigrationRefusedException.class)
          .hasMessageContaining("dirty log in use");
      MigrationResult r = first.completion().get(30, TimeUnit.SECONDS);
      assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(MigrationResult.Outcome.COMPLETED);
      assertThat(r.verified()).as("no write was lost to the refused attempts").isTrue();
    }
  }

  @Test
  void migrate_engineDrivenWithDestinationConfig_isRefusedBeforeAnythingMoves() {
    SimHost.named("api-dxml").createVm(SimVmSpec.builder("web-1").memory(DataSize.mib(8)).build());
    try (Host a = Ferry.connect("sim://api-dxml"); Host b = Ferry.connect("sim://api-dxml-b")) {
      Vm vm = a.vm("web-1");
      assertThatThrownBy(() -> a.migrate(vm, b.target(), MigrationOptions.builder()
          .destinationConfig("<domain/>").build()))
          .isInstanceOf(MigrationRefusedException.class)
          .hasMessageContaining("destination configuration");
      assertThat(a.vm("web-1").state()).isEqualTo(dev.ferry.spi.VmState.RUNNING);
    }
  }

  @Test
  void migrate_engineDrivenWithBackendOptions_isRefusedBeforeAnythingMoves() {
    SimHost.named("api-bopt").createVm(SimVmSpec.builder("web-1").memory(DataSize.mib(8)).build());
    try (Host a = Ferry.connect("sim://api-bopt"); Host b = Ferry.connect("sim://api-bopt-b")) {
      Vm vm = a.vm("web-1");
      dev.ferry.spi.HypervisorMigration.BackendOptions libvirtish = new dev.ferry.spi.HypervisorMigration.BackendOptions() {
        @Override
        public String toString() {
          return "SomeBackendOptions[p2p]";
        }
      };
      assertThatThrownBy(() -> a.migrate(vm, b.target(), MigrationOptions.builder().backendOptions(libvirtish).build()))
          .isInstanceOf(MigrationRefusedException.class)
          .hasMessageContaining("a backend's options").hasMessageContaining("SomeBackendOptions[p2p]");
      assertThat(a.vm("web-1").state()).isEqualTo(dev.ferry.spi.VmState.RUNNING);
    }
  }

  @Test
  void migrate_vmFromAnotherHost_isRefused() {
    SimHost.named("api-x").createVm(SimVmSpec.builder("web-1").memory(DataSize.mib(8)).build());
    try (Host a = Ferry.connect("sim://api-x"); Host b = Ferry.connect("sim://api-y")) {
      Vm vm = a.vm("web-1");
      assertThatThrownBy(() -> b.migrate(vm, a.target(), MigrationOptions.defaults()))
          .isInstanceOf(MigrationRefusedException.class)
          .hasMessageContaining("api-x");
    }
  }

  @Test
  void options_rejectNonsense() {
    MigrationOptions.Builder b = MigrationOptions.builder();
    assertThatThrownBy(() -> b.maxDowntime(Duration.ofMillis(-1))).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("max downtime");
    assertThatThrownBy(() -> b.deadline(Duration.ofSeconds(-5))).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.streams(0)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("1 to 16");
    assertThatThrownBy(() -> b.bandwidthLimit(Bandwidth.bytesPerSecond(0)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> Bandwidth.mbps(-3)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> DataSize.mib(-1)).isInstanceOf(IllegalArgumentException.class);
    MigrationOptions o = b.maxDowntime(Duration.ofMillis(50)).streams(4).build();
    assertThat(o.maxDowntime()).isEqualTo(Duration.ofMillis(50));
    assertThat(o.toBuilder().build().streams()).isEqualTo(4);
    assertThat(MigrationOptions.defaults().maxDowntime()).isEqualTo(Duration.ofMillis(300));
  }

  @Test
  void sizesParseAndPrint() {
    assertThat(DataSize.parse("1GiB")).isEqualTo(DataSize.gib(1));
    assertThat(DataSize.parse("512m")).isEqualTo(DataSize.mib(512));
    assertThat(DataSize.gib(1).toString()).isEqualTo("1 GiB");
    assertThat(DataSize.bytes(1536).toString()).isEqualTo("1.5 KiB");
    assertThatThrownBy(() -> DataSize.parse("lots")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("lots");
    assertThatThrownBy(() -> DataSize.parse("5 parsecs")).hasMessageContaining("parsecs");
  }
}
