package dev.ferry.sim;

import dev.ferry.spi.DataSize;
import dev.ferry.spi.GuestMemory;
import dev.ferry.spi.HostDriver;
import dev.ferry.spi.HostInfo;
import dev.ferry.spi.IncomingRequest;
import dev.ferry.spi.IncomingVm;
import dev.ferry.spi.ScratchMemory;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmDriver;
import java.util.List;
import java.util.Optional;

/**
 * One connection to a {@link SimHost}, as {@link SimProvider#open} hands out. Closing it closes
 * only this handle; the host and its VMs live on. Thread-safe.
 */
final class SimHostDriver implements HostDriver {
  private final SimHost host;
  private volatile boolean closed;

  SimHostDriver(SimHost host) {
    this.host = host;
  }

  SimHost host() {
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

  @Override
  public IncomingVm prepareIncoming(IncomingRequest request) {
    check();
    return host.prepareIncoming(request);
  }

  /** Sim memory of {@code size}, sparse like any guest's: only what the probe writes is mapped. */
  @Override
  public Optional<ScratchMemory> scratchMemory(DataSize size) {
    check();
    SimMemory m = new SimMemory(Math.max(1, size.bytes() / 4096), 4096);
    return Optional.of(new ScratchMemory() {
      @Override
      public GuestMemory memory() {
        return m;
      }

      @Override
      public void close() {
        m.release();
      }
    });
  }

  @Override
  public void close() {
    closed = true;
  }

  private void check() {
    if (closed) {
      throw new IllegalStateException("driver for sim host " + host.name() + " is closed");
    }
    host.checkAlive();
  }

  @Override
  public String toString() {
    return "SimHostDriver[" + host.name() + (closed ? ", closed" : "") + "]";
  }
}
