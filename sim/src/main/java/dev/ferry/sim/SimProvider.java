package dev.ferry.sim;

import dev.ferry.spi.CpuInfo;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.DriverException;
import dev.ferry.spi.HostDriver;
import dev.ferry.spi.HypervisorProvider;
import dev.ferry.spi.SpiVersion;
import java.net.URI;
import java.util.Set;

/**
 * The simulated hypervisor's entry point, registered for {@link java.util.ServiceLoader} under the
 * name {@code "sim"}.
 *
 * <p>URIs: {@code sim://<host>}, optionally with {@code ?memory=64GiB&cpu=sim-x86&features=sse4,avx2}.
 * Opening a URI reaches the process-wide {@link SimHost} of that name, creating it (with the URI's
 * memory and CPU, or the defaults) if it does not exist yet; parameters given for an existing host
 * must match it. {@link #supports(URI)} looks at the scheme only; a malformed sim URI is reported
 * by {@link #open(URI)} with an {@link IllegalArgumentException} naming the bad part.
 *
 * <p>Thread-safety: stateless; safe from any thread.
 */
public final class SimProvider implements HypervisorProvider {
  /** The provider's name and URI scheme. */
  public static final String NAME = "sim";

  /** For {@link java.util.ServiceLoader}. */
  public SimProvider() {}

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public int spiVersion() {
    return SpiVersion.CURRENT;
  }

  @Override
  public Support supports(URI uri) {
    if (uri == null) {
      return Support.no("no URI given");
    }
    String scheme = uri.getScheme();
    if (scheme == null) {
      return Support.no("URI has no scheme; sim URIs look like sim://<host>");
    }
    if (!scheme.equalsIgnoreCase(SimUri.SCHEME)) {
      return Support.no("scheme is not sim (it is '" + scheme + "')");
    }
    return Support.yes();
  }

  @Override
  public HostDriver open(URI uri) {
    SimUri u = SimUri.parse(uri);
    SimHost host = SimHost.get(u.host()).orElse(null);
    if (host == null) {
      CpuInfo cpu = new CpuInfo(u.cpuModel().orElse(SimHost.DEFAULT_CPU.model()),
          u.features().orElse(SimHost.DEFAULT_CPU.features()));
      DataSize memory = u.memory().orElse(SimHost.DEFAULT_MEMORY);
      try {
        host = SimHost.named(u.host(), memory, cpu);
      } catch (IllegalStateException e) {
        throw new DriverException("cannot open " + uri + ": " + e.getMessage(), e);
      }
    }
    HostDriver driver = host.driver();
    if (u.memory().isPresent() && !u.memory().get().equals(host.info().memory())) {
      throw new DriverException("cannot open " + uri + ": sim host " + host.name() + " exists with "
          + host.info().memory() + " of memory, not " + u.memory().get());
    }
    if (u.cpuModel().isPresent() && !u.cpuModel().get().equals(host.info().cpu().model())) {
      throw new DriverException("cannot open " + uri + ": sim host " + host.name() + " exists with CPU "
          + host.info().cpu().model() + ", not " + u.cpuModel().get());
    }
    if (u.features().isPresent() && !u.features().get().equals(Set.copyOf(host.info().cpu().features()))) {
      throw new DriverException("cannot open " + uri + ": sim host " + host.name() + " exists with CPU features "
          + host.info().cpu().features() + ", not " + u.features().get());
    }
    return driver;
  }

  @Override
  public String toString() {
    return "SimProvider";
  }
}
