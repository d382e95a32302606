package dev.ferry.cli;

import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationPlan;
import dev.ferry.Vm;
import dev.ferry.spi.Bandwidth;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code ferry watch SOURCE_URI VM}: the VM's live dirty rate and working set, one line per
 * interval, measured with its own dirty log (the measurement {@link Ferry#plan} makes), for VMs whose
 * backend has one (sim, kvm).
 */
@Command(name = "watch", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Print VM's live dirty rate and working set, measured with its dirty log, once per interval.")
final class WatchCommand implements Callable<Integer> {
  @Option(names = "--interval", defaultValue = "1s", converter = Units.DurationConverter.class,
      description = "Measurement window of each line (default ${DEFAULT-VALUE}).")
  Duration interval;

  @Option(names = "--count", defaultValue = "0", description = "Lines to print; 0 until interrupted (default ${DEFAULT-VALUE}).")
  int count;

  @Mixin
  SourceVm source = new SourceVm();

  @Override
  public Integer call() throws Exception {
    try (Host host = source.connect()) {
      Vm vm = source.vm(host);
      System.out.printf("host %s (%s): VM %s, %s, %s%n", host.info().hostname(), host.provider(), vm.name(),
          vm.memory(), vm.state());
      // Only the plan's measurement is printed; the link it asks for plays no part in it.
      MigrationOptions options = MigrationOptions.builder().bandwidthLimit(Bandwidth.gbps(1)).build();
      long start = System.nanoTime();
      for (int i = 0; count == 0 || i < count; i++) {
        MigrationPlan p = Ferry.plan(vm, Bandwidth.gbps(1), options, interval);
        System.out.printf(Locale.ROOT, "t=%.1fs  dirty rate %,d pages/s (%.1f MB/s), working set %s%n",
            (System.nanoTime() - start) / 1e9, p.dirtyRatePagesPerSecond(),
            p.dirtyRatePagesPerSecond() * (double) p.pageSize() / 1e6, p.workingSet());
        System.out.flush();
      }
      return ExitCodes.OK;
    } finally {
      SimHosts.destroy(source.uri());
    }
  }
}
