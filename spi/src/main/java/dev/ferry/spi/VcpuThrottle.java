package dev.ferry.spi;

/**
 * Slows the vCPUs down: at {@code percent} they are kept off the CPU that share of the time, the
 * way QEMU's auto-converge and vMotion's SDPS slow a guest that dirties memory faster than the link
 * moves it. Thread-safe.
 */
public interface VcpuThrottle {

  /**
   * Sets the throttle.
   *
   * @param percent 0 (full speed) to 99
   * @throws IllegalArgumentException outside that range
   */
  void setPercent(int percent);

  /** The throttle now, 0 to 99. */
  int percent();
}
