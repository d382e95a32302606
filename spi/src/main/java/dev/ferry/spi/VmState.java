package dev.ferry.spi;

/** The run state of a VM as its backend reports it. */
public enum VmState {
  /** vCPUs are running. */
  RUNNING,
  /** vCPUs are stopped; memory and devices are kept. */
  PAUSED,
  /** A destination-side VM that is receiving a migration and has not been activated. */
  INCOMING,
  /** The VM has been shut down or released (for instance after migrating away). */
  STOPPED
}
