package dev.ferry.spi;

/**
 * The VM's device state (vCPU registers, device models) as an opaque blob. Thread-safe.
 */
public interface DeviceState {

  /**
   * Saves the device state. Called while the VM is paused, so the blob is consistent with memory.
   *
   * @throws IllegalStateException if the VM is running
   */
  byte[] save();

  /**
   * Loads a blob produced by {@link #save()} on the source; called on an incoming VM before it is
   * activated.
   *
   * @throws IllegalArgumentException if the blob is not a valid device state for this VM
   */
  void load(byte[] blob);
}
