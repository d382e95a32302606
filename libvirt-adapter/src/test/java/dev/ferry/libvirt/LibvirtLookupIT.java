package dev.ferry.libvirt;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.DestinationRefusedException;
import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationResult;
import dev.ferry.Vm;
import dev.ferry.spi.HostDriver;
import dev.ferry.spi.VmDriver;
import dev.ferry.spi.VmState;
import java.net.URI;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Lookup code on libvirt's mock driver {@code test:///default} (in-process, no daemon; it holds one
 * running domain named "test" and refuses every migration). Needs libvirt's C library only.
 */
class LibvirtLookupIT {

  @Test
  void connect_testDriver_listsItsDomainWithUuidMemoryAndState() {
    try (Host h = Ferry.connect("test:///default")) {
      assertThat(h.provider()).isEqualTo("libvirt");
      assertThat(h.vms()).extracting(Vm::name).contains("test");
      Vm vm = h.vm("test");
      assertThat(vm.id().value()).matches("[0-9a-f-]{36}");
      assertThat(vm.memory().bytes()).isPositive();
      assertThat(vm.state()).isEqualTo(VmState.RUNNING);
      assertThat(vm.supportsLiveMigration()).isTrue();
    }
  }

  @Test
  void pauseAndResume_throughTheSpi_changeLibvirtsState() {
    try (HostDriver h = new LibvirtProvider().open(URI.create("test:///default"))) {
      VmDriver vm = h.vm("test").orElseThrow();
      vm.pause();
      assertThat(vm.state()).isEqualTo(VmState.PAUSED);
      vm.resume();
      assertThat(vm.state()).isEqualTo(VmState.RUNNING);
    }
  }

  @Test
  void migrate_toAHostThatAlreadyHasTheDomain_isRefusedBeforeAnythingMoves() throws Exception {
    try (Host a = Ferry.connect("test:///default"); Host b = Ferry.connect("test:///default")) {
      Vm vm = a.vm("test");
      MigrationResult r = a.migrate(vm, b.target(), MigrationOptions.defaults()).completion()
          .get(30, TimeUnit.SECONDS);
      assertThat(r.outcome()).as("%s", r).isEqualTo(MigrationResult.Outcome.FAILED);
      assertThat(r.cause()).containsInstanceOf(DestinationRefusedException.class);
      assertThat(r.cause().orElseThrow().getMessage()).contains("already has a domain with UUID " + vm.id());
      assertThat(vm.state()).isEqualTo(VmState.RUNNING);
    }
  }
}
