package dev.ferry.spi;

/**
 * A VM being received on the destination: memory that the engine writes pages into, device state
 * it loads, and then either {@link #activate()} (the migration succeeded; the VM starts running
 * here) or {@link #discard()} (it failed; nothing is left on this host).
 *
 * <p>Exactly one of {@code activate} and {@code discard} takes effect; calling either a second time,
 * or {@code discard} after {@code activate}, does nothing. Thread-safe.
 */
public interface IncomingVm {

  /** The description the source sent. */
  VmDescription description();

  /** The memory to write received pages into. Zero-filled at first. */
  GuestMemory memory();

  /** Loads the device state received from the source. */
  void loadDeviceState(byte[] blob);

  /**
   * Resumes the VM on this host and lists it among the host's VMs.
   *
   * @return the running VM
   * @throws IllegalStateException if already discarded
   */
  VmDriver activate();

  /**
   * Post-copy: running this VM before all its pages have arrived. Backends that cannot block a
   * vCPU on a missing page leave it empty, and the engine then never switches to post-copy.
   */
  default java.util.Optional<PostCopyIncoming> postCopy() {
    return java.util.Optional.empty();
  }

  /** Frees the received memory; the host is as it was before {@link HostDriver#prepareIncoming}. */
  void discard();
}
