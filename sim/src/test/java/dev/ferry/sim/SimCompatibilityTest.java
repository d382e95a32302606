package dev.ferry.sim;

import dev.ferry.spi.DataSize;
import dev.ferry.spi.HostDriver;
import dev.ferry.spi.HypervisorProvider;
import dev.ferry.spi.VmDriver;
import dev.ferry.tck.HypervisorCompatibilityKit;
import java.net.URI;
import org.junit.jupiter.api.AfterAll;

/** Runs the compatibility kit against the simulated hypervisor. */
class SimCompatibilityTest extends HypervisorCompatibilityKit {
  private static final String HOST = "tck-sim";

  @Override
  protected HypervisorProvider provider() {
    return new SimProvider();
  }

  @Override
  protected URI hostUri() {
    return URI.create("sim://" + HOST);
  }

  @Override
  protected VmDriver createBusyVm(HostDriver host, String name) {
    return SimHost.of(host).createVm(SimVmSpec.builder(name)
        .memory(DataSize.mib(16))
        .vcpus(2)
        // About 1000 writes per 2 ms over 4096 pages: busy, yet few pages rewritten per cycle.
        .workload(Workload.uniform(500_000))
        .seed(name.hashCode())
        .build());
  }

  @Override
  protected VmDriver createIdleVm(HostDriver host, String name) {
    return SimHost.of(host).createVm(SimVmSpec.builder(name).memory(DataSize.mib(16)).vcpus(2).build());
  }

  @Override
  protected boolean idleVmsAreQuiet() {
    return true;
  }

  @AfterAll
  static void destroyHost() {
    SimHost.get(HOST).ifPresent(SimHost::destroy);
  }
}
