package dev.ferry.samples;

import dev.ferry.Ferry;
import dev.ferry.cli.SimVms;
import dev.ferry.Host;
import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimVm;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.DataSize;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Starts a simulated host with a busy VM and prints its live dirty rate. */
@Command(name = "watch", mixinStandardHelpOptions = true,
    description = "Start a simulated host with a busy VM and print its live dirty rate each second.")
final class WatchDirtyRate implements Callable<Integer> {
  @Option(names = "--memory", defaultValue = "1GiB", description = "Guest memory (default ${DEFAULT-VALUE}).")
  String memory;

  @Option(names = "--dirty-rate", defaultValue = "5000",
      description = "Pages the guest writes per second (default ${DEFAULT-VALUE}).")
  long rate;

  @Option(names = "--seconds", defaultValue = "5", description = "How long to watch (default ${DEFAULT-VALUE}).")
  int seconds;

  @Override
  public Integer call() throws Exception {
    SimHost.named("watch-a").createVm(SimVmSpec.builder("busy-1").memory(DataSize.parse(memory))
        .vcpus(2).workload(Workload.hotSet(rate)).seed(1).build());
    try (Host host = Ferry.connect("sim://watch-a")) {
      SimVm vm = SimHost.named("watch-a").vm("busy-1").orElseThrow();
      System.out.printf("host %s (%s): VM %s, %s, %s%n", host.info().hostname(), host.provider(),
          vm.name(), vm.description().memory(), vm.workload());
      for (int i = 0; i < seconds; i++) {
        long dirty = SimVms.dirtyPagesPerSecond(vm, Duration.ofSeconds(1));
        System.out.printf("t=%ds  dirty rate %,d pages/s (%.1f MB/s), %,d writes so far%n", i + 1, dirty,
            dirty * vm.description().pageSize() / 1e6, vm.writesDone());
      }
    } finally {
      SimHost.destroyAll();
    }
    return 0;
  }
}
