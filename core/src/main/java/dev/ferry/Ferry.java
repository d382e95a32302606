package dev.ferry;

import dev.ferry.spi.DriverException;
import dev.ferry.spi.HostDriver;
import dev.ferry.spi.HypervisorProvider;
import dev.ferry.spi.SpiVersion;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Ferry's entry point: opens hosts by URI.
 *
 * <p>The backend is chosen from the URI. If the system property {@value #PROVIDER_PROPERTY} names a
 * provider, only that one is asked; otherwise every {@link HypervisorProvider} found by
 * {@link ServiceLoader} (with Ferry's own class loader) is asked whether it
 * {@linkplain HypervisorProvider#supports supports} the URI, and the first that does opens it (a
 * warning is logged when several do). A provider that fails to load, or was built for a newer SPI,
 * is skipped and named in the error if no provider fits.
 *
 * <p>Thread-safe; holds no state.
 */
public final class Ferry {
  /** System property that forces the provider of that name. */
  public static final String PROVIDER_PROPERTY = "ferry.provider";

  private static final Logger log = LoggerFactory.getLogger(Ferry.class);

  private Ferry() {}

  /** {@link #connect(URI)} on a URI given as text, such as {@code "sim://rack1-a"}. */
  public static Host connect(String uri) {
    try {
      return connect(new URI(uri));
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException("not a valid host URI: '" + uri + "': " + e.getMessage(), e);
    }
  }

  /**
   * Opens the host the URI names.
   *
   * @throws NoProviderException if no provider can open it, listing why each declined
   * @throws IllegalArgumentException if the provider finds the URI malformed
   * @throws HostException if the provider cannot reach or open the host
   */
  public static Host connect(URI uri) {
    String forced = System.getProperty(PROVIDER_PROPERTY);
    List<String> declined = new ArrayList<>();
    List<HypervisorProvider> fitting = new ArrayList<>();
    for (HypervisorProvider p : load(declined)) {
      if (forced != null && !forced.equals(p.name())) {
        declined.add(p.name() + ": not the provider named by -D" + PROVIDER_PROPERTY + "=" + forced);
        continue;
      }
      if (p.spiVersion() > SpiVersion.CURRENT) {
        declined.add(p.name() + ": built for SPI version " + p.spiVersion() + ", this Ferry has "
            + SpiVersion.CURRENT + " (upgrade Ferry)");
        continue;
      }
      HypervisorProvider.Support s;
      try {
        s = p.supports(uri);
      } catch (RuntimeException e) {
        declined.add(p.name() + ": failed to answer (" + e + ")");
        continue;
      }
      if (s.supported()) {
        fitting.add(p);
      } else {
        declined.add(p.name() + ": " + s.reason());
      }
    }
    if (fitting.isEmpty()) {
      throw new NoProviderException(uri, declined);
    }
    if (fitting.size() > 1) {
      log.warn("several providers support {}: {}; using {}", uri,
          fitting.stream().map(HypervisorProvider::name).toList(), fitting.get(0).name());
    }
    HypervisorProvider chosen = fitting.get(0);
    HostDriver driver;
    try {
      driver = chosen.open(uri);
    } catch (DriverException e) {
      throw new HostException("provider " + chosen.name() + " could not open " + uri + ": " + e.getMessage(), e);
    }
    log.debug("opened {} with provider {}", uri, chosen.name());
    return new Host(driver, chosen.name(), uri);
  }

  /**
   * Estimates, before it starts, what migrating {@code vm} over a link of {@code link} with
   * {@code options} will cost: total time, downtime, bytes to send, rounds, and which steps the
   * options' policy will take (throttle, post-copy, force, abort). Measures the VM's dirty rate and
   * working set with its dirty log for {@code window} (blocking that long), then runs the policy
   * against the pre-copy model; see {@link MigrationPlan}. Call it while no migration of the VM
   * runs. Thread-safe.
   *
   * @param link the bandwidth the migration will get (capped by the options' bandwidth limit)
   * @param window how long to measure, at least 20 ms; a second is plenty
   * @throws MigrationRefusedException if the VM has no dirty log
   * @throws IllegalArgumentException if neither {@code link} nor the options give a bandwidth
   */
  public static MigrationPlan plan(Vm vm, dev.ferry.spi.Bandwidth link, MigrationOptions options,
      java.time.Duration window) {
    return Planner.plan(vm.driver(), link, options, window);
  }

  /**
   * Measures the link to a receiver as a migration will use it: Ferry's own frames on one
   * connection for {@code window} (at most 2 s), the rate taken by the receiver's clock. Pass it to
   * {@link #plan} so that the plan assumes the bandwidth the migration will get. Thread-safe.
   *
   * @throws TransportException if the receiver cannot be reached or refuses (a wrong token)
   */
  public static dev.ferry.spi.Bandwidth measureLink(MigrationTarget target, java.time.Duration window) {
    return dev.ferry.engine.LinkProbe.measure(target, window, java.time.Duration.ofSeconds(10));
  }

  /**
   * As {@link #measureLink(MigrationTarget, java.time.Duration)}, over TLS when the options have it
   * (a receiver that takes only TLS refuses a plaintext probe).
   */
  public static dev.ferry.spi.Bandwidth measureLink(MigrationTarget target, java.time.Duration window,
      MigrationOptions options) {
    return dev.ferry.engine.LinkProbe.measure(target, window, java.time.Duration.ofSeconds(10),
        options.tls().orElse(null));
  }

  /** The names of the providers found on the class path. */
  public static List<String> providers() {
    List<String> names = new ArrayList<>();
    for (HypervisorProvider p : load(new ArrayList<>())) {
      names.add(p.name());
    }
    return names;
  }

  private static List<HypervisorProvider> load(List<String> failures) {
    List<HypervisorProvider> found = new ArrayList<>();
    Iterator<HypervisorProvider> it =
        ServiceLoader.load(HypervisorProvider.class, Ferry.class.getClassLoader()).iterator();
    while (true) {
      try {
        if (!it.hasNext()) {
          break;
        }
        found.add(it.next());
      } catch (ServiceConfigurationError e) {
        log.warn("skipping a hypervisor provider that failed to load", e);
        failures.add("(failed to load: " + e.getMessage() + ")");
      }
    }
    return found;
  }
}
