package dev.ferry.engine;

import dev.ferry.sim.GuestMemoryDigest;
import dev.ferry.spi.DeviceState;
import dev.ferry.spi.DirtyLog;
import dev.ferry.spi.GuestMemory;
import dev.ferry.spi.HypervisorMigration;
import dev.ferry.spi.VcpuThrottle;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmDriver;
import dev.ferry.spi.VmState;
import java.util.Optional;

/**
 * Wraps a source VM and records, at the moment the engine pauses it, the digest of its memory and
 * its device state: what the destination must hold at activation. Observes only; delegates all.
 */
class ObservedVm implements VmDriver {
  final VmDriver delegate;
  volatile Long digestAtPause;
  volatile byte[] deviceStateAtPause;
  volatile int pauses;
  volatile int resumes;

  ObservedVm(VmDriver delegate) {
    this.delegate = delegate;
  }

  @Override
  public VmDescription description() {
    return delegate.description();
  }

  @Override
  public VmState state() {
    return delegate.state();
  }

  @Override
  public void pause() {
    delegate.pause();
    pauses++;
    digestAtPause = GuestMemoryDigest.of(delegate.memory().orElseThrow());
    deviceStateAtPause = delegate.deviceState().map(DeviceState::save).orElse(null);
  }

  @Override
  public void resume() {
    resumes++;

    delegate.resume();
  }

  @Override
  public void stop() {
    delegate.stop();
  }

  @Override
  public Optional<GuestMemory> memory() {
    return delegate.memory();
  }

  @Override
  public Optional<DirtyLog> dirtyLog() {
    return delegate.dirtyLog();
  }

  @Override
  public Optional<VcpuThrottle> throttle() {
    return delegate.throttle();
  }

  @Override
  public Optional<DeviceState> deviceState() {
    return delegate.deviceState();
  }

  @Override
  public Optional<HypervisorMigration> hypervisorMigration() {
    return delegate.hypervisorMigration();
  }
}
