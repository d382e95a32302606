package dev.ferry;

import dev.ferry.spi.DataSize;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmDriver;
import dev.ferry.spi.VmId;
import dev.ferry.spi.VmState;

/**
 * A virtual machine on a {@link Host}. A thin, thread-safe handle: its state is read from the
 * backend each time it is asked for.
 */
public final class Vm {
  private final Host host;
  private final VmDriver driver;

  Vm(Host host, VmDriver driver) {
    this.host = host;
    this.driver = driver;
  }

  /** The host this handle was obtained from. */
  public Host host() {
    return host;
  }

  public VmId id() {
    return driver.description().id();
  }

  public String name() {
    return driver.description().name();
  }

  /** Memory size, page size, vCPUs and CPU. */
  public VmDescription description() {
    return driver.description();
  }

  public DataSize memory() {
    return driver.description().memory();
  }

  /** The run state now, as the backend reports it. */
  public VmState state() {
    return driver.state();
  }

  /** Whether Ferry's engine can copy this VM's memory itself, live (pre-copy). */
  public boolean supportsLiveMigration() {
    return driver.memory().isPresent() && driver.dirtyLog().isPresent()
        || driver.hypervisorMigration().isPresent();
  }

  VmDriver driver() {
    return driver;
  }

  @Override
  public String toString() {
    return "Vm[" + name() + " on " + host.info().hostname() + ", " + memory() + ", " + state() + "]";
  }
}
