package dev.ferry.spi;

import java.util.Optional;

/**
 * One VM, as a backend sees it: identity, run state, and optional facets.
 *
 * <p>A facet a backend does not support is {@link Optional#empty()}; the engine picks its data
 * plane from what is present. The engine-driven plane needs {@link #memory()} (and
 * {@link #dirtyLog()} for live pre-copy; without it the engine falls back to a quick migration that
 * pauses first); the hypervisor-driven plane needs {@link #hypervisorMigration()}.
 *
 * <p>Implementations must be thread-safe. Each facet method returns the same view every time.
 */
public interface VmDriver {

  /** What the VM is: id, name, memory, page size, vCPUs, CPU. */
  VmDescription description();

  /** The run state now. */
  VmState state();

  /**
   * Stops the vCPUs. When this method returns, no vCPU writes guest memory until
   * {@link #resume()}. Pausing a paused VM does nothing.
   */
  void pause();

  /** Restarts the vCPUs of a paused VM. Resuming a running VM does nothing. */
  void resume();

  /**
   * Stops the VM for good and releases its resources; used on the source once the destination has
   * confirmed it runs the migrated VM. Afterwards the state is {@link VmState#STOPPED} and the host
   * no longer lists the VM.
   */
  void stop();

  /** Direct access to guest memory, page by page. */
  default Optional<GuestMemory> memory() {
    return Optional.empty();
  }

  /** A log of pages written by the guest, with get-and-clear semantics. */
  default Optional<DirtyLog> dirtyLog() {
    return Optional.empty();
  }

  /** Slowing the vCPUs down by a percentage of their time. */
  default Optional<VcpuThrottle> throttle() {
    return Optional.empty();
  }

  /** Saving and loading the VM's device state as an opaque blob. */
  default Optional<DeviceState> deviceState() {
    return Optional.empty();
  }

  /** A migration that the hypervisor carries out itself (libvirt, QEMU). */
  default Optional<HypervisorMigration> hypervisorMigration() {
    return Optional.empty();
  }
}
