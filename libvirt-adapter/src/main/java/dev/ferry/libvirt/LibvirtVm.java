package dev.ferry.libvirt;

import dev.ferry.spi.CpuInfo;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.DriverException;
import dev.ferry.spi.HypervisorMigration;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmDriver;
import dev.ferry.spi.VmId;
import dev.ferry.spi.VmState;
import java.util.Optional;
import java.util.Set;
import org.libvirt.Domain;
import org.libvirt.DomainInfo;
import org.libvirt.LibvirtException;

/**
 * A libvirt domain as a Ferry VM: its UUID is the VM id, its maximum memory the VM's memory (4 KiB
 * pages), its vCPU count, and its run state read from libvirt each time. It offers only the
 * {@link HypervisorMigration} facet: QEMU keeps guest memory to itself.
 *
 * <p>Thread-safe. A domain that no longer exists (migrated away, destroyed) reads as
 * {@link VmState#STOPPED}.
 */
final class LibvirtVm implements VmDriver {
  private static final int PAGE_SIZE = 4096;

  private final LibvirtHost host;
  private final Domain domain;
  private final VmDescription description;
  private final LibvirtMigration migration;

  LibvirtVm(LibvirtHost host, Domain domain) {
    this.host = host;
    this.domain = domain;
    try {
      DomainInfo info = domain.getInfo();
      long bytes = info.maxMem * 1024L / PAGE_SIZE * PAGE_SIZE;
      this.description = new VmDescription(new VmId(domain.getUUIDString()), domain.getName(),
          DataSize.bytes(Math.max(bytes, PAGE_SIZE)), PAGE_SIZE, Math.max(1, info.nrVirtCpu),
          new CpuInfo("libvirt-domain", Set.of()));
    } catch (LibvirtException e) {
      throw Errors.driver("reading domain information on " + host.uri(), e);
    }
    this.migration = new LibvirtMigration(host, this);
  }

  Domain domain() {
    return domain;
  }

  LibvirtHost host() {
    return host;
  }

  @Override
  public VmDescription description() {
    return description;
  }

  @Override
  public VmState state() {
    int[] sr;
    try {
      sr = VirtNative.state(domain);
    } catch (VirtNative.DomainGoneException e) {
      return VmState.STOPPED;
    }
    return switch (sr[0]) {
      case VirtNative.STATE_RUNNING, VirtNative.STATE_BLOCKED -> VmState.RUNNING;
      case VirtNative.STATE_PAUSED, VirtNative.STATE_PMSUSPENDED -> VmState.PAUSED;
      default -> VmState.STOPPED;
    };
  }

  @Override
  public void pause() {
    if (state() == VmState.PAUSED) {
      return;
    }
    try {
      domain.suspend();
    } catch (LibvirtException e) {
      throw Errors.driver("suspending domain " + description.name(), e);
    }
  }

  @Override
  public void resume() {
    if (state() != VmState.PAUSED) {
      return;
    }
    try {
      domain.resume();
    } catch (LibvirtException e) {
      throw Errors.driver("resuming domain " + description.name(), e);
    }
  }

  @Override
  public void stop() {
    try {
      if (domain.isActive() == 1) {
        domain.destroy();
      }
      if (domain.isPersistent() == 1) {
        domain.undefine();
      }
    } catch (LibvirtException e) {
      if (!Errors.noDomain(e)) {
        throw Errors.driver("stopping domain " + description.name(), e);
      }
    }
  }

  @Override
  public Optional<HypervisorMigration> hypervisorMigration() {
    return Optional.of(migration);
  }

  @Override
  public String toString() {
    return "LibvirtVm[" + description.name() + " on " + host.uri() + "]";
  }

  /** Whether the domain is persistent (defined) on its host. */
  boolean persistent() {
    try {
      return domain.isPersistent() == 1;
    } catch (LibvirtException e) {
      throw Errors.driver("reading domain " + description.name(), e);
    }
  }

  static DriverException wrap(String what, LibvirtException e) {
    return Errors.driver(what, e);
  }
}
