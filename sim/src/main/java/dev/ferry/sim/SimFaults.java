package dev.ferry.sim;

import dev.ferry.spi.DataSize;
import dev.ferry.spi.DriverException;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Fault hooks of a {@link SimHost}: a test arms a fault, and the next matching operation on the
 * host fails with a {@link DriverException} carrying the given reason. Each armed fault fires once.
 *
 * <p>This is the place where further faults (cut a stream, kill a destination, slow a link) go.
 *
 * <p>Thread-safety: safe from any thread.
 */
public final class SimFaults {
  private final AtomicReference<String> prepareIncoming = new AtomicReference<>();
  private final AtomicReference<String> activate = new AtomicReference<>();
  private final AtomicReference<DataSize> machineAvailable = new AtomicReference<>();
  private volatile boolean markBeforeWrite;

  SimFaults() {}

  /** The next {@link SimHost#prepareIncoming} on this host fails with {@code reason}. */
  public SimFaults failNextPrepareIncoming(String reason) {
    prepareIncoming.set(reason);
    return this;
  }

  /**
   * The next {@link SimIncomingVm#activate()} on this host fails with {@code reason}; the incoming
   * VM stays incoming (it can be discarded, or activated again).
   */
  public SimFaults failNextActivate(String reason) {
    activate.set(reason);
    return this;
  }

  /**
   * Until cleared, this host's admission sees a machine with only {@code available} bytes free
   * (everything included) instead of what the kernel reports: a host short of memory, on demand. Unlike the other faults
   * it stays armed.
   */
  public SimFaults machineMemoryAvailable(DataSize available) {
    machineAvailable.set(available);
    return this;
  }

  /**
   * Until cleared, the vCPUs of this host's VMs mark a page dirty before they write it, and wait a
   * few microseconds between the two: a broken dirty log, the order that loses a write when a sync
   * falls between the mark and the write (the sync harvests the mark, the copy reads the old page,
   * the write lands unreported). For testing that a check catches such a backend; a correct one
   * writes first (or, as KVM, write-protects the pages a sync harvested, so the write faults
   * again). Stays armed; applies to batches that start after it is set.
   */
  public SimFaults markBeforeWrite(boolean broken) {
    markBeforeWrite = broken;
    return this;
  }

  /** Disarms every fault. */
  public void clear() {
    prepareIncoming.set(null);
    activate.set(null);
    machineAvailable.set(null);
    markBeforeWrite = false;
  }

  boolean markBeforeWrite() {
    return markBeforeWrite;
  }

  Optional<DataSize> machineAvailable() {
    return Optional.ofNullable(machineAvailable.get());
  }

  void firePrepareIncoming(String host) {
    String reason = prepareIncoming.getAndSet(null);
    if (reason != null) {
      throw new DriverException("injected fault on sim host " + host + ": prepareIncoming failed: " + reason);
    }
  }

  void fireActivate(String host) {
    String reason = activate.getAndSet(null);
    if (reason != null) {
      throw new DriverException("injected fault on sim host " + host + ": activate failed: " + reason);
    }
  }
}
