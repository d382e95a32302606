package dev.ferry.cli;

import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationPlan;
import dev.ferry.Vm;
import dev.ferry.spi.Bandwidth;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code ferry plan SOURCE_URI VM [--to TARGET]}: what migrating the VM would cost, predicted by
 * {@link Ferry#plan} from a measurement of its dirty rate and of the link to the target (or the
 * {@code --bandwidth} given), without migrating it.
 */
@Command(name = "plan", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Predict what migrating VM would cost: time, downtime, rounds, bytes, the policy's steps.",
        "The link is measured to --to (a host URI or HOST:PORT of a receiver), else --bandwidth is assumed."})
final class PlanCommand implements Callable<Integer> {
  @Option(names = "--to", paramLabel = "TARGET", description = "Measure the link to this target (host URI or HOST:PORT).")
  String to;

  @Option(names = "--window", defaultValue = "1s", converter = Units.DurationConverter.class,
      description = "How long to measure the guest's dirty rate (default ${DEFAULT-VALUE}).")
  Duration window;

  @Mixin
  SourceVm source = new SourceVm();

  @Mixin
  MigrationFlags flags = new MigrationFlags();

  @Mixin
  SecurityOptions security = new SecurityOptions();

  /** The plan printed (for tests that run the command in-process). */
  volatile MigrationPlan plan;

  @Override
  public Integer call() throws Exception {
    MigrationOptions.Builder builder = flags.builder(Duration.ofSeconds(60));
    try (Host a = source.connect()) {
      Vm vm = source.vm(a);
      Bandwidth link;
      if (to != null) {
        try (Destination d = Destination.open(to, security)) {
          link = Ferry.measureLink(d.target(), Duration.ofMillis(250), builder.tls(d.tls()).build());
          System.out.printf("link to %s: %s measured%n", d.target().address(), link);
        }
      } else if (!flags.bandwidth().equals(Bandwidth.UNLIMITED)) {
        link = flags.bandwidth();
      } else {
        throw new IllegalArgumentException("give --to TARGET to measure the link, or --bandwidth to assume one");
      }
      plan = Ferry.plan(vm, link, builder.build(), window);
      System.out.println(plan);
      return ExitCodes.OK;
    } finally {
      SimHosts.destroy(source.uri());
    }
  }
}
