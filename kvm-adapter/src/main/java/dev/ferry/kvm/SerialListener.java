package dev.ferry.kvm;

/**
 * Receives the lines a guest writes to its serial port (COM1, {@code 0x3f8}), without the newline.
 * Called on the vCPU thread that wrote the line: keep it short and never block in it.
 */
@FunctionalInterface
public interface SerialListener {
  /** A line written by the guest of VM {@code vm}. */
  void line(String vm, String line);
}
