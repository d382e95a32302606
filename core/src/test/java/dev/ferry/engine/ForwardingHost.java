package dev.ferry.engine;

import dev.ferry.spi.DataSize;
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
 * A host driver that forwards every call to another; the test hosts that watch or break one part
 * of a destination extend it and override that part.
 */
abstract class ForwardingHost implements HostDriver {
  final HostDriver delegate;

  ForwardingHost(HostDriver delegate) {
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
    return delegate.prepareIncoming(request);
  }

  @Override
  public Optional<ScratchMemory> scratchMemory(DataSize size) {
    return delegate.scratchMemory(size);
  }

  @Override
  public void close() {
    delegate.close();
  }
}
