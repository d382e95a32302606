package dev.ferry.cli;

import dev.ferry.Host;
import dev.ferry.Vm;
import dev.ferry.sim.SimHost;
import java.net.URI;
import picocli.CommandLine.Option;

/**
 * {@code --sim-vm MEMORY[:WORKLOAD]}: on a {@code sim://} source, create the VM first (a simulated
 * host lives in the process that names it, so a sim source in a fresh process has no VM until one
 * is made). Not thread-safe: picocli fills it, one command reads it.
 */
public final class SimVmOption {
  @Option(names = "--sim-vm", paramLabel = "MEMORY[:WORKLOAD]",
      description = "On a sim:// source, first create the VM with this memory and workload, e.g. 1GiB:uniform=3000"
          + " or 256MiB:hot-set=5000 (workloads: idle, uniform, hot-set, sequential, mixed; rate in pages/s;"
          + " uniform(3000) also works, quoted for the shell).")
  String spec;

  /**
   * The VM named {@code name} on {@code host} (opened from {@code uri}), created there first when
   * {@code --sim-vm} was given.
   */
  public Vm vm(Host host, String uri, String name) {
    if (spec != null) {
      if (!"sim".equals(host.provider())) {
        throw new IllegalArgumentException("--sim-vm creates a VM on a sim:// host, not on " + uri);
      }
      SimVms.create(simHost(uri), SimVms.spec(name, spec));
    }
    return host.vm(name);
  }

  /** The simulated host a {@code sim://NAME} URI names (opened, or made, in this process). */
  static SimHost simHost(String uri) {
    String name = URI.create(uri).getHost();
    return SimHost.named(name);
  }
}
