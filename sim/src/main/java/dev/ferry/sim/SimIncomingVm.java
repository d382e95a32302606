package dev.ferry.sim;

import dev.ferry.spi.GuestMemory;
import dev.ferry.spi.IncomingVm;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmDriver;
import dev.ferry.spi.VmState;

/**
 * A VM being received on a {@link SimHost}: zeroed sparse memory that the engine writes pages
 * into, and a slot for the device state. Not listed among the host's VMs, but it holds its name,
 * id and memory on the host, so a second incoming or new VM of the same name is refused.
 *
 * <p>{@link #activate()} turns it into a running {@link SimVm} on the same memory: the workload,
 * seed and every vCPU's registers come from the device-state blob loaded with
 * {@link #loadDeviceState(byte[])}, so the vCPUs continue the exact page sequence (and write
 * counters) of the source. Activated without a device state, the VM runs the idle workload.
 * {@link #discard()} frees the memory and the reservation; the host is then as before.
 *
 * <p>Thread-safety: safe from any thread; {@code activate}, {@code discard} and
 * {@code loadDeviceState} are serialised.
 */
public final class SimIncomingVm implements IncomingVm {
  private final SimHost host;
  private final VmDescription description;
  private final SimMemory memory;
  private final long promised;
  private DeviceStateCodec.Snapshot loaded;
  private SimVm activated;
  private boolean discarded;
  private SimPostCopy postCopy;

  SimIncomingVm(SimHost host, VmDescription description, long promised) {
    this.host = host;
    this.description = description;
    this.memory = new SimMemory(description.pageCount(), description.pageSize());
    this.promised = promised;
  }

  /** Of the memory admitted for this VM, what has not been written yet, in bytes. */
  long promisedNotWritten() {
    return Math.max(0, promised - memory.allocatedBytes());
  }

  @Override
  public VmDescription description() {
    return description;
  }

  @Override
  public GuestMemory memory() {
    return memory;
  }

  /** The same memory as {@link #memory()}, with its sim-specific methods. */
  public SimMemory guestMemory() {
    return memory;
  }

  /** The digest of the received memory so far ({@link GuestMemoryDigest#of}). */
  public long memoryDigest() {
    return memory.digest();
  }

  /** INCOMING until activated or discarded; then RUNNING (or the VM's state), or STOPPED. */
  public synchronized VmState state() {
    if (activated != null) {
      return activated.state();
    }
    return discarded ? VmState.STOPPED : VmState.INCOMING;
  }

  /**
   * Checks and keeps the device state; the last one loaded wins.
   *
   * @throws IllegalArgumentException if the blob is corrupt (checksum) or for another VM shape
   * @throws IllegalStateException if already activated or discarded
   */
  @Override
  public void loadDeviceState(byte[] blob) {
    DeviceStateCodec.Snapshot s = DeviceStateCodec.decode(blob, description);
    synchronized (this) {
      if (activated != null || discarded) {
        throw new IllegalStateException("incoming VM " + description.name() + " is no longer incoming");
      }
      loaded = s;
    }
  }

  @Override
  public synchronized VmDriver activate() {
    return activateVm();
  }

  /**
   * Post-copy for this VM: mark pages missing, activate, then supply pages; a vCPU that writes a
   * missing page blocks until it arrives.
   */
  @Override
  public synchronized java.util.Optional<dev.ferry.spi.PostCopyIncoming> postCopy() {
    if (postCopy == null) {
      postCopy = new SimPostCopy(this, memory);
    }
    return java.util.Optional.of(postCopy);
  }

  synchronized SimVm activatePostCopy(SimPostCopy pc) {
    return activate(pc);
  }

  /** {@link #activate()}, typed. */
  public synchronized SimVm activateVm() {
    return activate(null);
  }

  private SimVm activate(SimPostCopy pc) {
    if (discarded) {
      throw new IllegalStateException("incoming VM " + description.name() + " was discarded");
    }
    if (activated != null) {
      return activated;
    }
    host.faults().fireActivate(host.name());
    Workload w;
    long seed;
    int size;
    WorkloadCursor[] cursors = new WorkloadCursor[description.vcpus()];
    if (loaded == null) {
      w = Workload.idle();
      seed = SimVmSpec.DEFAULT_SEED;
      size = (int) SimVmSpec.DEFAULT_DEVICE_STATE_SIZE.bytes();
      for (int i = 0; i < cursors.length; i++) {
        cursors[i] = new WorkloadCursor(w, seed, i, cursors.length, description.pageCount());
      }
    } else {
      w = loaded.workload();
      seed = loaded.seed();
      size = loaded.blobSize();
      for (int i = 0; i < cursors.length; i++) {
        cursors[i] = new WorkloadCursor(w, seed, description.pageCount(), loaded.rng()[i], loaded.seq()[i],
            loaded.writes()[i]);
      }
    }
    SimVm vm = new SimVm(host, description, memory, w, seed, size, cursors);
    vm.postCopy(pc);
    host.promote(this, vm);
    activated = vm;
    return vm;
  }

  @Override
  public void discard() {
    synchronized (this) {
      if (activated != null || discarded) {
        return;
      }
      discarded = true;
      memory.release();
    }
    host.removeIncoming(this);
  }

  @Override
  public String toString() {
    return "SimIncomingVm[" + host.name() + "/" + description.name() + ", " + state() + "]";
  }
}
