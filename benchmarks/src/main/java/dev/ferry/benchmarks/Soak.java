package dev.ferry.benchmarks;

import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationTarget;
import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimMemory;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.DataSize;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * The soak run: one busy VM migrated back and forth between two long-lived simulated hosts, each
 * with its own receiver, {@code --count} times (default 200), through the public API on 127.0.0.1.
 * After every tenth migration it takes the JVM's live threads, its open file descriptors, its direct
 * memory, the sim's guest memory (mapped for live VMs, and kept in its bounded chunk pool for reuse,
 * apart) and its heap after a full GC, and at the end compares the 10th migration's figures with the
 * last: an engine that leaks a thread, a socket or a buffer per migration shows it here as a slope.
 *
 * <p>Its last lines: {@code soak-threads: A -> B}, {@code soak-fds: A -> B},
 * {@code soak-direct-mib: A -> B}, {@code soak-vm-mib: A -> B}, {@code soak-pool-mib: A -> B},
 * {@code soak-heap-mib: A -> B}, and {@code soak: flat} or
 * {@code soak: GROWS (...)}. Exit code 0 when flat and every migration completed.
 *
 * <p>Usage: {@code soak [--count 200] [--memory 64MiB]}.
 */
final class Soak {
  private Soak() {}

  record Sample(int migration, int threads, int fds, long directBytes, long mappedBytes, long pooledBytes,
      long heapBytes) {
    /** Guest memory mapped for live VMs: what is mapped, less the chunks the sim's pool keeps for reuse. */
    long vmBytes() {
      return mappedBytes - pooledBytes;
    }
  }

  static int run(String[] args, PrintStream out) throws Exception {
    int count = 200;
    DataSize memory = DataSize.mib(64);
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--count" -> count = Integer.parseInt(args[++i]);
        case "--memory" -> memory = DataSize.parse(args[++i]);
        default -> throw new IllegalArgumentException("unknown option " + args[i] + "; soak [--count N] [--memory SIZE]");
      }
    }
    if (count < 20) {
      throw new IllegalArgumentException("--count must be at least 20: the comparison starts at the 10th");
    }
    try (Host a = Ferry.connect("sim://soak-a"); Host b = Ferry.connect("sim://soak-b")) {
      SimHost.named("soak-a").createVm(SimVmSpec.builder("soak-vm").memory(memory).vcpus(2)
          .workload(Workload.uniform(2000)).seed(3).build()).fillRandom(3);
      MigrationTarget toA = a.target();
      MigrationTarget toB = b.target();
      MigrationOptions options = MigrationOptions.builder().deadline(Duration.ofMinutes(1)).build();
      List<Sample> samples = new ArrayList<>();
      int failed = 0;
      long t0 = System.nanoTime();
      out.printf("soak: %d migrations of a %s VM (uniform 2000 pages/s) between two sim hosts%n", count, memory);
      out.println("migration  threads  fds  direct MiB  VM MiB  pool MiB  heap MiB  last outcome");
      for (int i = 1; i <= count; i++) {
        boolean forth = i % 2 == 1;
        Host from = forth ? a : b;
        MigrationResult r = from.migrate(from.vm("soak-vm"), forth ? toB : toA, options).completion().get();
        if (!r.completed()) {
          failed++;
          out.println("migration " + i + ": " + r.outcome() + " " + r.cause().map(Throwable::getMessage).orElse(""));
        }
        if (i % 10 == 0) {
          Sample s = sample(i);
          samples.add(s);
          out.printf(Locale.ROOT, "%9d  %7d  %3d  %10.1f  %6.1f  %8.1f  %8.1f  %s%n", i, s.threads(), s.fds(),
              s.directBytes() / 1048576.0, s.vmBytes() / 1048576.0, s.pooledBytes() / 1048576.0,
              s.heapBytes() / 1048576.0, r.outcome());
        }
      }
      Sample first = samples.get(0);
      Sample last = samples.get(samples.size() - 1);
      out.printf(Locale.ROOT, "%d migrations in %.1f s, %d not completed%n", count, (System.nanoTime() - t0) / 1e9,
          failed);
      out.printf("soak-threads: %d -> %d%n", first.threads(), last.threads());
      out.printf("soak-fds: %d -> %d%n", first.fds(), last.fds());
      out.printf(Locale.ROOT, "soak-direct-mib: %.1f -> %.1f%n", first.directBytes() / 1048576.0,
          last.directBytes() / 1048576.0);
      out.printf(Locale.ROOT, "soak-vm-mib: %.1f -> %.1f%n", first.vmBytes() / 1048576.0,
          last.vmBytes() / 1048576.0);
      out.printf(Locale.ROOT, "soak-pool-mib: %.1f -> %.1f (kept for reuse, at most %d MiB)%n",
          first.pooledBytes() / 1048576.0, last.pooledBytes() / 1048576.0,
          Long.getLong("ferry.sim.chunkPoolBytes", 2L << 30) >> 20);
      out.printf(Locale.ROOT, "soak-heap-mib: %.1f -> %.1f%n", first.heapBytes() / 1048576.0,
          last.heapBytes() / 1048576.0);
      List<String> grows = new ArrayList<>();
      if (last.threads() > first.threads()) {
        grows.add("threads");
      }
      if (last.fds() > first.fds()) {
        grows.add("file descriptors");
      }
      if (last.directBytes() > first.directBytes() + (1 << 20)) {
        grows.add("direct memory");
      }
      if (last.vmBytes() > first.vmBytes() + (16 << 20)) {
        grows.add("guest memory");
      }
      if (last.heapBytes() > first.heapBytes() + (16 << 20)) {
        grows.add("heap");
      }
      out.println(grows.isEmpty() ? "soak: flat" : "soak: GROWS (" + String.join(", ", grows) + ")");
      return grows.isEmpty() && failed == 0 ? 0 : 1;
    } finally {
      SimHost.destroyAll();
    }
  }

  private static Sample sample(int i) throws InterruptedException {
    // Engine threads end a moment after the result: wait for the count to settle, bounded.
    int threads = Thread.activeCount();
    for (int k = 0; k < 50; k++) {
      Thread.sleep(10);
      int now = Thread.activeCount();
      if (now == threads) {
        break;
      }
      threads = now;
    }
    for (int k = 0; k < 3; k++) {
      System.gc();
      Thread.sleep(20);
    }
    Runtime rt = Runtime.getRuntime();
    return new Sample(i, Thread.activeCount(), fds(), direct().getMemoryUsed(), SimMemory.mappedBytes(),
        SimMemory.pooledBytes(), rt.totalMemory() - rt.freeMemory());
  }

  private static BufferPoolMXBean direct() {
    return ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
        .filter(p -> p.getName().equals("direct")).findFirst().orElseThrow();
  }

  private static int fds() {
    try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
      return (int) s.count();
    } catch (IOException e) {
      return -1;
    }
  }
}
