package dev.ferry.engine;

import dev.ferry.sim.GuestMemoryDigest;
import dev.ferry.spi.GuestMemory;
import dev.ferry.spi.HostDriver;
import dev.ferry.spi.HostInfo;
import dev.ferry.spi.IncomingRequest;
import dev.ferry.spi.IncomingVm;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmDriver;
import java.util.List;
import java.util.Optional;

/**
 * Wraps a destination host and records, when the engine activates an incoming VM, the digest of
 * its memory and the device state it was given, just before it starts running.
 */
final class ObservedHost implements HostDriver {
  final HostDriver delegate;
  volatile Long digestAtActivate;
  volatile byte[] deviceStateLoaded;
  volatile int discards;

  ObservedHost(HostDriver delegate) {
    this.delegate = delegate;
  }

  @Override
  public HostInfo info() {
    return delegate.info();
  }

  @Override
  public List<VmDriver> vms() {
    return delegate.vms();
  }

  @Override
  public Optional<VmDriver> vm(String name) {
    return delegate.vm(name);
  }

  @Override
  public IncomingVm prepareIncoming(VmDescription description) {
    return prepareIncoming(new IncomingRequest(description, description.memory()));
  }

  @Override
  public IncomingVm prepareIncoming(IncomingRequest request) {
    IncomingVm in = delegate.prepareIncoming(request);
    return new IncomingVm() {
      @Override
      public VmDescription description() {
        return in.description();
      }

      @Override
      public GuestMemory memory() {
        return in.memory();
      }

      @Override
      public void loadDeviceState(byte[] blob) {
        deviceStateLoaded = blob.clone();
        in.loadDeviceState(blob);
      }

      @Override
      public VmDriver activate() {
        digestAtActivate = GuestMemoryDigest.of(in.memory());
        return in.activate();
      }

      @Override
      public void discard() {
        discards++;
        in.discard();
      }
    };
  }

  @Override
  public void close() {
    delegate.close();
  }
}
