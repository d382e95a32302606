package dev.ferry.libvirt;

import dev.ferry.spi.HypervisorMigration;

/** The hypervisor-driven migration facet of a libvirt domain; each start is a {@link LibvirtJob}. */
final class LibvirtMigration implements HypervisorMigration {
  private final LibvirtHost host;
  private final LibvirtVm vm;

  LibvirtMigration(LibvirtHost host, LibvirtVm vm) {
    this.host = host;
    this.vm = vm;
  }

  @Override
  public Job start(Request request) {
    return LibvirtJob.start(host, vm, request);
  }
}
