package dev.ferry.kvm;

import dev.ferry.spi.HostDriver;
import dev.ferry.spi.HostInfo;
import dev.ferry.spi.IncomingVm;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmDriver;
import java.util.List;
import java.util.Optional;

/**
 * One connection to a {@link KvmHost}, as {@link KvmProvider#open} hands out. Closing it closes only
 * this handle; the host and its VMs live on. Thread-safe.
 */
final class KvmHostDriver implements HostDriver {
  private final KvmHost host;
  private volatile boolean closed;

  KvmHostDriver(KvmHost host) {
    this.host = host;
  }

  KvmHost host() {
    return host;
  }

  @Override
  public HostInfo info() {
    check();
    return host.info();
  }

  @Override
  public List<VmDriver> vms() {
    check();
    return List.copyOf(host.vms());
  }

  @Override
  public Optional<VmDriver> vm(String name) {
    check();
    return host.vm(name).map(vm -> vm);
  }

  @Override
  public IncomingVm prepareIncoming(VmDescription description) {
    check();
    return host.prepareIncoming(description);
  }

  /** Refuses, before any page moves, a VM whose resident memory exceeds what this machine has free. */
  @Override
  public IncomingVm prepareIncoming(dev.ferry.spi.IncomingRequest request) {
    check();
    long need = request.residentBytes().bytes();
    long free = KvmHost.availableMemory();
    if (free >= 0 && need > free) {
      throw new dev.ferry.spi.DriverException("host " + host.name() + " cannot hold " + request.description().name()
          + ": it needs up to " + request.residentBytes() + " of memory, the machine has "
          + dev.ferry.spi.DataSize.bytes(free) + " available");
    }
    return host.prepareIncoming(request.description());
  }

  /** Fresh guest RAM of the kind an incoming VM gets (a private anonymous mapping), for the link probe. */
  @Override
  public Optional<dev.ferry.spi.ScratchMemory> scratchMemory(dev.ferry.spi.DataSize size) {
    check();
    long pages = Math.max(1, (size.bytes() + GuestRam.PAGE_SIZE - 1) / GuestRam.PAGE_SIZE);
    GuestRam ram = new GuestRam(pages * GuestRam.PAGE_SIZE);
    return Optional.of(new dev.ferry.spi.ScratchMemory() {
      @Override
      public dev.ferry.spi.GuestMemory memory() {
        return ram;
      }

      @Override
      public void close() {
        ram.release();
      }
    });
  }

  @Override
  public void close() {
    closed = true;
  }

  private void check() {
    if (closed) {
      throw new IllegalStateException("driver for KVM host " + host.name() + " is closed");
    }
    host.checkAlive();
  }

  @Override
  public String toString() {
    return "KvmHostDriver[" + host.name() + (closed ? ", closed" : "") + "]";
  }
}
