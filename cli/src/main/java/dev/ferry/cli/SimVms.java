package dev.ferry.cli;

import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimVm;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.DirtyLog;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Simulated VMs made from a command line: {@code MEMORY[:WORKLOAD]} such as {@code 1GiB:uniform=3000} or
 * {@code 1GiB:uniform(3000)}
 * (workloads idle, uniform, hot-set, sequential, mixed, with their rate in pages per second), and
 * the distinct-pages-per-second measurement the samples print. Stateless and thread-safe.
 */
public final class SimVms {
  private static final Pattern WORKLOAD = Pattern.compile("([a-z-]+)(?:\\((\\d+)\\)|=(\\d+))?");

  private SimVms() {}

  /** A workload by name ({@code idle, uniform, hot-set, sequential, mixed}) at {@code pagesPerSecond}. */
  public static Workload workload(String name, long pagesPerSecond) {
    switch (name.toLowerCase(Locale.ROOT)) {
      case "idle":
        return Workload.idle();
      case "uniform":
        return Workload.uniform(pagesPerSecond);
      case "hot-set":
        return Workload.hotSet(pagesPerSecond);
      case "sequential":
        return Workload.sequential(pagesPerSecond);
      case "mixed":
        return Workload.mixed(pagesPerSecond);
      default:
        throw new IllegalArgumentException("unknown workload '" + name
            + "': use idle, uniform, hot-set, sequential or mixed");
    }
  }

  /**
   * The spec of VM {@code name} from {@code MEMORY[:WORKLOAD[=RATE]]}: 2 vCPUs, seed 42, the
   * workload uniform(3000) when none is given.
   */
  public static SimVmSpec spec(String name, String text) {
    String[] parts = text.trim().split(":", 2);
    DataSize memory = DataSize.parse(parts[0]);
    Workload w = Workload.uniform(3000);
    if (parts.length == 2) {
      Matcher m = WORKLOAD.matcher(parts[1].trim().toLowerCase(Locale.ROOT));
      if (!m.matches()) {
        throw new IllegalArgumentException("workload '" + parts[1] + "': use e.g. uniform=3000, hot-set=5000 or idle");
      }
      String rate = m.group(2) != null ? m.group(2) : m.group(3);
      w = workload(m.group(1), rate == null ? 3000 : Long.parseLong(rate));
    }
    return SimVmSpec.builder(name).memory(memory).vcpus(2).workload(w).seed(42).build();
  }

  /** Creates the VM on {@code host} and fills its memory with seeded data (so it is not all zero pages). */
  public static SimVm create(SimHost host, SimVmSpec spec) {
    SimVm vm = host.createVm(spec);
    vm.fillRandom(spec.seed());
    return vm;
  }

  /**
   * Measures the distinct pages the guest dirties per second over {@code window}, with the VM's own
   * dirty log, as the migration engine sees it.
   */
  public static long dirtyPagesPerSecond(SimVm vm, Duration window) throws InterruptedException {
    DirtyLog log = vm.dirtyLog().orElseThrow();
    long[] bitmap = new long[(int) ((vm.description().pageCount() + 63) >>> 6)];
    log.start();
    try {
      long t0 = System.nanoTime();
      TimeUnit.NANOSECONDS.sleep(window.toNanos());
      long pages = log.syncAndClear(bitmap);
      return (long) (pages * 1e9 / (System.nanoTime() - t0));
    } finally {
      log.stop();
    }
  }
}
