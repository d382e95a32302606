package dev.ferry.cli;

import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationPlan;
import dev.ferry.MigrationTarget;
import dev.ferry.Vm;
import dev.ferry.spi.Bandwidth;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code ferry plan SOURCE_URI VM [--to TARGET]}: what migrating the VM would cost, predicted by
 * {@link Ferry#plan} from a measurement of its dirty rate and of the link to the target (or the
 * {@code --bandwidth} given), without migrating it.
 */
@Command(name = "plan", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Predict what migrating VM would cost: time, downtime, rounds, bytes, the policy's steps.",
        "The link is measured to --to (a host URI or HOST:PORT of a receiver), else --bandwidth is assumed."})
final class PlanCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "SOURCE_URI", description = "The source host, e.g. sim://a or kvm://a.")
  String source;

  @Parameters(index = "1", paramLabel = "VM", description = "The VM.")
  String vmName;

  @Option(names = "--to", paramLabel = "TARGET", description = "Measure the link to this target (host URI or HOST:PORT).")
  String to;

  @Option(names = "--window", defaultValue = "1s", converter = Units.DurationConverter.class,
      description = "How long to measure the guest's dirty rate (default ${DEFAULT-VALUE}).")
  Duration window;

  @Mixin
  SimVmOption simVm = new SimVmOption();

  @Mixin
  MigrationFlags flags = new MigrationFlags();

  @Mixin
  SecurityOptions security = new SecurityOptions();

  /** The plan printed (for tests that run the command in-process). */
  volatile MigrationPlan plan;

  @Override
  public Integer call() throws Exception {
    MigrationOptions.Builder builder = flags.builder(Duration.ofSeconds(60));
    Host b = null;
    try (Host a = Ferry.connect(source)) {
      Vm vm = simVm.vm(a, source, vmName);
      Bandwidth link;
      if (to != null) {
        MigrationTarget t;
        if (Endpoints.isUri(to)) {
          b = Ferry.connect(to);
          t = b.target();
        } else {
          t = Endpoints.target(to).withToken(security.token(System.getenv()));
          builder.tls(security.tls());
        }
        link = Ferry.measureLink(t, Duration.ofMillis(250), builder.build());
        System.out.printf("link to %s: %s measured%n", t.address(), link);
      } else if (!flags.bandwidth().equals(Bandwidth.UNLIMITED)) {
        link = flags.bandwidth();
      } else {
        throw new IllegalArgumentException("give --to TARGET to measure the link, or --bandwidth to assume one");
      }
      plan = Ferry.plan(vm, link, builder.build(), window);
      System.out.println(plan);
      return ExitCodes.OK;
    } finally {
      if (b != null) {
        b.close();
      }
      SimHosts.destroy(source, to);
    }
  }
}
