package dev.ferry.kvm;

import dev.ferry.spi.GuestMemory;
import dev.ferry.spi.IncomingVm;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmDriver;
import dev.ferry.spi.VmState;

/**
 * A VM being received on a {@link KvmHost}: a KVM VM already created, with its RAM mapped (zero
 * until pages arrive) and its vCPUs made but not running. The engine writes pages straight into the
 * new VM's RAM through {@link #memory()}; {@link #loadDeviceState} puts registers, MSRs (the TSC) and
 * device state into the vCPUs at once; {@link #activate()} starts the vCPU threads and lists the VM
 * on the host; {@link #discard()} frees the VM, its RAM and its descriptors.
 *
 * <p>Activated without a device state, the VM is RUNNING but its vCPUs have no guest state to
 * execute and are not started (there is nothing to resume). Post-copy runs the VM before all pages
 * have arrived ({@link KvmPostCopy}, with userfaultfd), where the process may create a userfaultfd.
 *
 * <p>Thread-safety: safe from any thread; {@code activate}, {@code discard} and
 * {@code loadDeviceState} are serialised.
 */
public final class KvmIncomingVm implements IncomingVm {
  private final KvmHost host;
  private final KvmVm vm;
  private boolean activated;
  private boolean discarded;
  private KvmPostCopy postCopy;

  KvmIncomingVm(KvmHost host, KvmVm vm) {
    this.host = host;
    this.vm = vm;
  }

  @Override
  public VmDescription description() {
    return vm.description();
  }

  @Override
  public GuestMemory memory() {
    return vm.ram();
  }

  /** The VM this becomes when activated (INCOMING until then). */
  public KvmVm vm() {
    return vm;
  }

  /**
   * @throws IllegalArgumentException if the blob is not a KVM device state for this VM's shape
   * @throws IllegalStateException if already activated or discarded
   */
  @Override
  public synchronized void loadDeviceState(byte[] blob) {
    if (activated || discarded) {
      throw new IllegalStateException("incoming VM " + vm.name() + " is no longer incoming");
    }
    vm.loadState(blob);
  }

  @Override
  public synchronized VmDriver activate() {
    if (discarded) {
      throw new IllegalStateException("incoming VM " + vm.name() + " was discarded");
    }
    if (!activated) {
      host.promote(this);
      vm.start();
      activated = true;
    }
    return vm;
  }

  @Override
  public void discard() {
    synchronized (this) {
      if (activated || discarded) {
        return;
      }
      discarded = true;
      vm.destroy();
    }
    host.removeIncoming(this);
  }

  /**
   * Post-copy with userfaultfd ({@link KvmPostCopy}), where this process may create one; empty
   * otherwise, and the engine then never switches to post-copy.
   */
  @Override
  public synchronized java.util.Optional<dev.ferry.spi.PostCopyIncoming> postCopy() {
    if (postCopy == null && !discarded && KvmPostCopy.available()) {
      postCopy = new KvmPostCopy(this, vm);
      vm.postCopy(postCopy);
    }
    return java.util.Optional.ofNullable(postCopy);
  }

  /** INCOMING, then the VM's state once activated, or STOPPED once discarded. */
  public synchronized VmState state() {
    if (discarded) {
      return VmState.STOPPED;
    }
    return vm.state();
  }

  @Override
  public String toString() {
    return "KvmIncomingVm[" + host.name() + "/" + vm.name() + ", " + state() + "]";
  }
}
