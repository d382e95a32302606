package dev.ferry.cli;

import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationReceiver;
import dev.ferry.ReceivedMigration;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationSession;
import dev.ferry.MigrationTarget;
import dev.ferry.Vm;
import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimVm;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The quick start: a live migration of a busy 1 GiB VM between two simulated hosts over TCP on
 * 127.0.0.1, one line per round, one line of JSON at the end. With {@code --listen} and
 * {@code --connect} the two hosts run in two processes; then {@code --tls-*} turns on TLS 1.3 with
 * mutual authentication, and the token comes from {@code --token-file} or {@code FERRY_TOKEN}. A
 * receiver off loopback needs one or the other.
 */
@Command(name = "quickstart", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Live-migrate a busy simulated VM between two simulated hosts over loopback TCP.")
public final class QuickStartCommand implements Callable<Integer> {
  private static final String SOURCE = "quickstart-a";
  private static final String DEST = "quickstart-b";

  @Option(names = "--memory", defaultValue = "1GiB", description = "Guest memory (default ${DEFAULT-VALUE}).")
  String memory;

  @Option(names = "--dirty-rate", defaultValue = "3000",
      description = "Pages the guest writes per second (default ${DEFAULT-VALUE}).")
  long dirtyRate;

  @Option(names = "--workload", defaultValue = "uniform",
      description = "idle, uniform, hot-set, sequential or mixed (default ${DEFAULT-VALUE}).")
  String workload;

  @Mixin
  MigrationFlags flags = new MigrationFlags();

  @Option(names = "--zero-memory", description = "Leave guest memory zeroed instead of filling it with data.")
  boolean zeroMemory;

  @Option(names = "--listen", paramLabel = "HOST:PORT",
      description = "Run only the destination, receiving on this address, and exit once the VM runs here with all its memory (after post-copy, if it switched).")
  String listen;

  @Option(names = "--connect", paramLabel = "HOST:PORT",
      description = "Run only the source, migrating to the receiver at this address.")
  String connect;

  @Mixin
  SecurityOptions security = new SecurityOptions();

  @Option(names = "--wait", defaultValue = "10m", description = "With --listen: how long to wait (default ${DEFAULT-VALUE}).")
  String waitFor;

  @Override
  public Integer call() throws Exception {
    try {
      if (listen != null && connect != null) {
        throw new IllegalArgumentException("--listen and --connect run the two ends: give one or the other");
      }
      return listen != null ? receive() : migrate();
    } finally {
      SimHost.destroyAll();
    }
  }

  private int migrate() throws Exception {
    SimVmSpec spec = SimVmSpec.builder("web-1").memory(DataSize.parse(memory)).vcpus(2)
        .workload(SimVms.workload(workload, dirtyRate)).seed(42).build();
    // A VM larger than this machine runs on hosts that declare its size (overcommitted): guest
    // memory is allocated as it is written, and the destination admits what will really arrive.
    DataSize hostMemory = spec.memory().compareTo(SimHost.DEFAULT_MEMORY) > 0 ? spec.memory() : SimHost.DEFAULT_MEMORY;
    SimHost source = SimHost.named(SOURCE, hostMemory, SimHost.DEFAULT_CPU);
    if (connect == null) {
      SimHost.named(DEST, hostMemory, SimHost.DEFAULT_CPU);
    }
    if (hostMemory != SimHost.DEFAULT_MEMORY) {
      System.out.printf(Locale.ROOT, "hosts: %s declared, more than this machine's %s (sparse guest memory)%n",
          hostMemory, SimHost.DEFAULT_MEMORY);
    }
    SimVm sim = source.createVm(spec);
    if (!zeroMemory) {
      sim.fillRandom(42);
    }
    long dirty = SimVms.dirtyPagesPerSecond(sim, Duration.ofSeconds(1));
    System.out.printf(Locale.ROOT, "source: VM %s, %s, %s, dirtying %,d pages/s (%.1f MB/s)%n", sim.name(),
        spec.memory(), spec.workload(), dirty, dirty * spec.pageSize() / 1e6);

    try (Host a = Ferry.connect("sim://" + SOURCE); Host b = connect == null ? Ferry.connect("sim://" + DEST) : null) {
      MigrationTarget target = b != null ? b.target()
          : Endpoints.target(connect).withToken(security.token(System.getenv()));
      Vm vm = a.vm("web-1");
      MigrationOptions options = flags.builder(Duration.ofSeconds(60))
          .listener(EventLines.to(System.out))
          .tls(b != null ? null : security.tls())
          .build();
      // The plan: the link measured to the receiver (a quarter of a second of Ferry's own frames), a
      // 1 s measurement of the guest, then the policy run against the same model the engine uses.
      Bandwidth link = Ferry.measureLink(target, Duration.ofMillis(250), options);
      System.out.printf("link to %s: %s measured%n", target.address(), link);
      dev.ferry.MigrationPlan plan = Ferry.plan(vm, link, options, Duration.ofSeconds(1));
      System.out.println(plan);
      System.out.printf("migrating %s to %s with %s%n", vm.name(), target.address(), options);
      MigrationSession session = a.migrate(vm, target, options);
      MigrationResult r = session.completion().join();
      if (b != null && r.completed()) {
        SimVm moved = SimHost.named(DEST).vm("web-1").orElseThrow();
        long before = moved.writesDone();
        Thread.sleep(200);
        System.out.printf(Locale.ROOT, "destination: VM %s is %s and still writing (%,d writes in 200 ms)%n",
            moved.name(), moved.state(), moved.writesDone() - before);
      }
      System.out.printf(Locale.ROOT, "planned: %s%nactual:  %s in %.1f s, downtime %s, %d round(s), %s sent, "
          + "guest slowdown %.1f s%n", plan.summary(), r.outcome(), r.totalTime().toMillis() / 1e3,
          r.downtimeText(), r.roundCount(), DataSize.bytes(r.bytesOnWire()), r.guestSlowdown().toMillis() / 1e3);
      System.out.println(ResultJson.of(r, spec.memory().bytes()));
      return r.completed() ? 0 : 1;
    }
  }

  private int receive() throws Exception {
    try (Host b = Ferry.connect("sim://" + DEST)) {
      dev.ferry.FerryTls tls = security.tls();
      String token = security.token(System.getenv());
      MigrationReceiver receiver = b.listen(Endpoints.address(listen),
          dev.ferry.ReceiverOptions.builder().tls(tls).token(token).build());
      System.out.printf("destination: receiving migrations on %s%s%s%n", receiver.address(),
          tls != null ? ", TLS 1.3 with client certificates" : "", token.isEmpty() ? "" : ", token required");
      // An incoming migration has ended only when the guest runs here with all of its memory: after
      // post-copy has completed, when it switched to post-copy. Until then this process must not exit.
      if (!receiver.awaitReceived(1, Units.duration(waitFor))) {
        System.out.println("destination: no migration ended here within " + waitFor);
        return 1;
      }
      ReceivedMigration in = receiver.received().get(0);
      if (in.outcome() != ReceivedMigration.Outcome.ARRIVED) {
        System.out.printf("destination: the migration of %s ended %s: %s%n", in.vmName(), in.outcome(), in.detail());
        return 1;
      }
      SimVm moved = SimHost.named(DEST).vm(in.vmName()).orElseThrow();
      long before = moved.writesDone();
      Thread.sleep(200);
      System.out.printf(Locale.ROOT, "destination: VM %s arrived with all its memory in %d ms; it is %s and writing "
          + "(%,d writes in 200 ms)%n", moved.name(), in.duration().toMillis(), moved.state(),
          moved.writesDone() - before);
      return 0;
    }
  }
}
