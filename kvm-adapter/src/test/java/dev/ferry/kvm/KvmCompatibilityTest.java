package dev.ferry.kvm;

import dev.ferry.spi.DataSize;
import dev.ferry.spi.HostDriver;
import dev.ferry.spi.HypervisorProvider;
import dev.ferry.spi.VmDriver;
import dev.ferry.tck.HypervisorCompatibilityKit;
import java.net.URI;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * Runs the compatibility kit against ferry-kvm on real /dev/kvm, with the project's test guest as
 * the busy VM (a 4 MiB region rewritten at 32 MiB/s: about 80 pages in 10 ms of 4096) and the same
 * guest with no dirtying as the idle one (its heartbeat still writes its own variables and stack, so
 * idle VMs are not quiet). The whole class is skipped, saying why, where KVM cannot be used.
 */
class KvmCompatibilityTest extends HypervisorCompatibilityKit {
  private static final String HOST = "tck-kvm";

  @BeforeAll
  static void requireKvm() {
    TestGuests.requireKvm();
    TestGuests.testGuest();
  }

  @Override
  protected HypervisorProvider provider() {
    return new KvmProvider();
  }

  @Override
  protected URI hostUri() {
    return URI.create("kvm://" + HOST);
  }

  @Override
  protected VmDriver createBusyVm(HostDriver host, String name) {
    return boot(host, name, "mb=4 rate=32");
  }

  @Override
  protected VmDriver createIdleVm(HostDriver host, String name) {
    return boot(host, name, "mb=4 rate=0");
  }

  private static VmDriver boot(HostDriver host, String name, String cmdline) {
    return KvmHost.of(host).createVm(KvmVmSpec.builder(name).memory(DataSize.mib(16))
        .kernel(TestGuests.testGuest()).cmdline(cmdline).build());
  }

  @AfterAll
  static void destroyHost() {
    KvmHost.get(HOST).ifPresent(KvmHost::destroy);
  }
}
