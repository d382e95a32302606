package dev.ferry.libvirt;

import dev.ferry.spi.HostDriver;
import dev.ferry.spi.HypervisorProvider;
import dev.ferry.spi.VmDriver;
import dev.ferry.tck.HypervisorCompatibilityKit;
import java.net.URI;

/**
 * The compatibility kit against a real libvirt daemon with real QEMU guests. libvirt offers no
 * guest memory, dirty log, throttle, device state or incoming VMs through the SPI (QEMU keeps them
 * and migrates them itself), so the kit's tests of those facets end as skipped; discovery, lookup,
 * listing, host identity, and stop run in full.
 */
class LibvirtCompatibilityIT extends HypervisorCompatibilityKit {
  private final ItStack stack = ItStack.get();

  @Override
  protected HypervisorProvider provider() {
    return new LibvirtProvider();
  }

  @Override
  protected URI hostUri() {
    return URI.create(stack.src);
  }

  @Override
  protected VmDriver createBusyVm(HostDriver host, String name) {
    stack.startGuest(name, 8, 2);
    return host.vm(name).orElseThrow(() -> new AssertionError("libvirt does not list the new domain " + name));
  }

  @Override
  protected VmDriver createIdleVm(HostDriver host, String name) {
    stack.startGuest(name, 8, 0);
    return host.vm(name).orElseThrow(() -> new AssertionError("libvirt does not list the new domain " + name));
  }
}
