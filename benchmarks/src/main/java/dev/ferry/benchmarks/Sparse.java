package dev.ferry.benchmarks;

import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationPlan;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationTarget;
import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimMemory;
import dev.ferry.sim.SimVm;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.DataSize;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * A large guest that wrote little: a VM of {@code --memory} (64 GiB by default) with
 * {@code --touched} (2 GiB) of random pages spread evenly over all of it, migrated with verification
 * between two sim hosts of one process that declare the VM's size. Prints the plan, the outcome,
 * the bytes on the wire, what each end holds ({@code residentBytes}) and the process's peak resident
 * memory; the last line {@code sparse-peak-rss-per-touched: X} is the peak over twice the touched
 * memory (both ends hold a copy while the migration runs), so memory at both ends proportional to
 * what was touched reads as a figure a little over 1, whatever {@code --memory} is.
 *
 * <p>Usage: {@code sparse [--memory 64GiB] [--touched 2GiB]}.
 */
final class Sparse {
  private Sparse() {}

  static int run(String[] args, PrintStream out) throws Exception {
    DataSize memory = DataSize.gib(64);
    DataSize touched = DataSize.gib(2);
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--memory" -> memory = DataSize.parse(args[++i]);
        case "--touched" -> touched = DataSize.parse(args[++i]);
        default -> throw new IllegalArgumentException("unknown option " + args[i] + "; sparse [--memory M] [--touched T]");
      }
    }
    SimHost src = SimHost.named("sparse-a", memory, SimHost.DEFAULT_CPU);
    SimHost dst = SimHost.named("sparse-b", memory, SimHost.DEFAULT_CPU);
    try (Host a = Ferry.connect("sim://sparse-a"); Host b = Ferry.connect("sim://sparse-b")) {
      SimVm vm = src.createVm(SimVmSpec.builder("vm").memory(memory).vcpus(2).workload(Workload.uniform(300)).seed(1)
          .build());
      SimMemory m = vm.guestMemory();
      long pages = Math.min(m.pageCount(), touched.bytes() / m.pageSize());
      long stride = Math.max(1, m.pageCount() / pages);
      ByteBuffer page = ByteBuffer.allocateDirect(m.pageSize());
      SplittableRandom random = new SplittableRandom(1);
      for (long i = 0; i < pages; i++) {
        page.clear();
        while (page.hasRemaining()) {
          page.putLong(random.nextLong());
        }
        page.flip();
        m.writePage(i * stride, page);
      }
      out.printf(Locale.ROOT, "source: %s VM, %s written (one page in %d), holds %s; process resident %s%n", memory,
          DataSize.bytes(pages * m.pageSize()), stride, DataSize.bytes(m.residentBytes()), DataSize.bytes(rss()));
      MigrationTarget target = b.target();
      MigrationOptions options = MigrationOptions.builder().maxDowntime(Duration.ofMillis(300)).verify(true).build();
      MigrationPlan plan = Ferry.plan(a.vm("vm"), Ferry.measureLink(target, Duration.ofMillis(250)), options,
          Duration.ofSeconds(1));
      out.println("plan: " + plan.summary());
      MigrationResult r = a.migrate(a.vm("vm"), target, options).completion().get();
      out.printf(Locale.ROOT, "actual: %s in %.1f s, downtime %s, %s on the wire, verified %s%n", r.outcome(),
          r.totalTime().toMillis() / 1e3, r.downtimeText(), DataSize.bytes(r.bytesOnWire()), r.verified());
      long held = dst.vm("vm").map(v -> v.guestMemory().residentBytes()).orElse(0L);
      long peak = peakRss();
      out.printf(Locale.ROOT, "destination holds %s; process peak resident %s (both ends and the JVM)%n",
          DataSize.bytes(held), DataSize.bytes(peak));
      out.printf(Locale.ROOT, "sparse-peak-rss-per-touched: %.2f%n", peak / (2.0 * pages * m.pageSize()));
      return r.completed() ? 0 : 1;
    } finally {
      SimHost.destroyAll();
    }
  }

  private static long rss() throws IOException {
    return status("VmRSS:");
  }

  private static long peakRss() throws IOException {
    return status("VmHWM:");
  }

  /** A figure of /proc/self/status in bytes, or -1 off Linux. */
  private static long status(String key) throws IOException {
    Path p = Path.of("/proc/self/status");
    if (!Files.exists(p)) {
      return -1;
    }
    return Files.readAllLines(p).stream().filter(l -> l.startsWith(key))
        .mapToLong(l -> Long.parseLong(l.substring(key.length()).trim().split("\\s+")[0]) * 1024).findFirst()
        .orElse(-1);
  }
}
