package dev.ferry.spi;

import java.util.List;
import java.util.Optional;

/**
 * One open connection to a host, as a backend sees it.
 *
 * <p>Implementations must be thread-safe: Ferry may list VMs, look one up and prepare an incoming
 * VM from different threads at once. {@link #close()} is idempotent; after it, other methods may
 * throw {@link IllegalStateException}.
 */
public interface HostDriver extends AutoCloseable {

  /** This host's identity, CPU and memory. */
  HostInfo info();

  /** The VMs on this host, in a stable order (by name). Incoming VMs are not listed. */
  List<VmDriver> vms();

  /** The VM with this name, if the host has one. */
  Optional<VmDriver> vm(String name);

  /**
   * Creates, on this (destination) host, an empty VM of the given description to receive a
   * migration into. Its vCPUs do not run until {@link IncomingVm#activate()}.
   *
   * @throws DriverException if the host cannot hold it: a VM of that name or id already exists,
   *     not enough memory, or the host's CPU cannot run it
   * @throws UnsupportedOperationException if this backend cannot receive engine-driven migrations
   */
  default IncomingVm prepareIncoming(VmDescription description) {
    throw new UnsupportedOperationException(
        "this backend does not receive engine-driven migrations: " + getClass().getName());
  }

  /**
   * Creates an incoming VM as {@link #prepareIncoming(VmDescription)} does, knowing how much of its
   * memory will really arrive: a host that can refuse a VM it cannot hold should do so here, before
   * any page moves, with a message naming what it needs and what it has. The default ignores the
   * size and calls {@link #prepareIncoming(VmDescription)}.
   *
   * @throws DriverException if the host cannot hold it
   * @throws UnsupportedOperationException if this backend cannot receive engine-driven migrations
   */
  default IncomingVm prepareIncoming(IncomingRequest request) {
    return prepareIncoming(request.description());
  }

  /**
   * Fresh memory of up to {@code size} (at most), of the kind {@link #prepareIncoming} gives an
   * incoming VM, for a link probe to write into and give back. A probe that writes into it measures
   * what a migration into this host will get, first-touch costs included; a host that returns
   * empty (the default) is probed for its link alone.
   */
  default Optional<ScratchMemory> scratchMemory(DataSize size) {
    return Optional.empty();
  }

  /** Releases the connection. VMs keep running; only this driver's handle is closed. */
  @Override
  void close();
}
