package dev.ferry.cli;

import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.Vm;
import dev.ferry.sim.SimHost;
import java.net.URI;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * The VM a command works on, as a picocli mixin: {@code SOURCE_URI VM}, and {@code --sim-vm
 * MEMORY[:WORKLOAD]} to create it first on a {@code sim://} source (a simulated host lives in the
 * process that names it, so a sim source in a fresh process has no VM until one is made). Not
 * thread-safe: picocli fills it, one command reads it.
 */
public final class SourceVm {
  @Parameters(index = "0", paramLabel = "SOURCE_URI",
      description = "The host the VM is on, e.g. sim://a, qemu:///system (libvirt), kvm://a.")
  String uri;

  @Parameters(index = "1", paramLabel = "VM", description = "The VM (libvirt: the domain).")
  String name;

  @Option(names = "--sim-vm", paramLabel = "MEMORY[:WORKLOAD]",
      description = "On a sim:// source, first create the VM with this memory and workload, e.g. 1GiB:uniform=3000"
          + " or 256MiB:hot-set=5000 (workloads: idle, uniform, hot-set, sequential, mixed; rate in pages/s;"
          + " uniform(3000) also works, quoted for the shell).")
  String spec;

  /** The source host's URI. */
  public String uri() {
    return uri;
  }

  /** Opens the source host. */
  public Host connect() {
    return Ferry.connect(uri);
  }

  /** The VM on {@code host} (opened from {@link #uri()}), created there first when {@code --sim-vm} was given. */
  public Vm vm(Host host) {
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
