package dev.ferry.samples;

import dev.ferry.Compression;
import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.MigrationEvent;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationReceiver;
import dev.ferry.ReceivedMigration;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationSession;
import dev.ferry.MigrationTarget;
import dev.ferry.Progress;
import dev.ferry.RoundStats;
import dev.ferry.Vm;
import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimVm;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import java.net.InetSocketAddress;
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
final class QuickStart implements Callable<Integer> {
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

  @Option(names = "--bandwidth", defaultValue = "unlimited",
      description = "Bandwidth limit, e.g. 200MB/s, 1GB/s, or unlimited (default ${DEFAULT-VALUE}).")
  String bandwidth;

  @Option(names = "--streams", defaultValue = "1", description = "TCP streams for pages (default ${DEFAULT-VALUE}).")
  int streams;

  @Option(names = "--max-downtime", defaultValue = "300ms",
      description = "Longest pause allowed, e.g. 300ms or 1s (default ${DEFAULT-VALUE}).")
  String maxDowntime;

  @Option(names = "--deadline", defaultValue = "60s",
      description = "Give up and roll back after this long (default ${DEFAULT-VALUE}).")
  String deadline;

  @Option(names = "--compression", defaultValue = "none", description = "none or lz4 (default ${DEFAULT-VALUE}).")
  String compression;

  @Option(names = "--verify", defaultValue = "true", arity = "1",
      description = "Compare memory digests at switchover (default ${DEFAULT-VALUE}).")
  boolean verify;

  @Option(names = "--quick", description = "Pause first and copy once (a quick migration) instead of pre-copy.")
  boolean quick;

  @Option(names = "--post-copy",
      description = "Allow the policy to switch to post-copy when pre-copy cannot converge.")
  boolean postCopy;

  @Option(names = "--zero-memory", description = "Leave guest memory zeroed instead of filling it with data.")
  boolean zeroMemory;

  @Option(names = "--listen", paramLabel = "HOST:PORT",
      description = "Run only the destination, receiving on this address, and exit once the VM runs here with all its memory (after post-copy, if it switched).")
  String listen;

  @Option(names = "--connect", paramLabel = "HOST:PORT",
      description = "Run only the source, migrating to the receiver at this address.")
  String connect;

  @Mixin
  SampleSecurity security = new SampleSecurity();

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
        .workload(workload()).seed(42).build();
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
    long dirty = SampleVms.dirtyPagesPerSecond(sim, Duration.ofSeconds(1));
    System.out.printf(Locale.ROOT, "source: VM %s, %s, %s, dirtying %,d pages/s (%.1f MB/s)%n", sim.name(),
        spec.memory(), spec.workload(), dirty, dirty * spec.pageSize() / 1e6);

    try (Host a = Ferry.connect("sim://" + SOURCE); Host b = connect == null ? Ferry.connect("sim://" + DEST) : null) {
      MigrationTarget target = b != null ? b.target() : target(connect).withToken(security.token(System.getenv()));
      Vm vm = a.vm("web-1");
      MigrationOptions options = MigrationOptions.builder()
          .maxDowntime(Durations.parse(maxDowntime))
          .deadline(Durations.parse(deadline))
          .bandwidthLimit(parseBandwidth(bandwidth))
          .streams(streams)
          .compression(Compression.valueOf(compression.toUpperCase(Locale.ROOT)))
          .verify(verify)
          .quick(quick)
          .allowPostCopy(postCopy)
          .listener(QuickStart::print)
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
      System.out.println(json(r, spec.memory().bytes()));
      return r.completed() ? 0 : 1;
    }
  }

  private int receive() throws Exception {
    try (Host b = Ferry.connect("sim://" + DEST)) {
      dev.ferry.FerryTls tls = security.tls();
      String token = security.token(System.getenv());
      MigrationReceiver receiver = b.listen(target(listen).address(),
          dev.ferry.ReceiverOptions.builder().tls(tls).token(token).build());
      System.out.printf("destination: receiving migrations on %s%s%s%n", receiver.address(),
          tls != null ? ", TLS 1.3 with client certificates" : "", token.isEmpty() ? "" : ", token required");
      // An incoming migration has ended only when the guest runs here with all of its memory: after
      // post-copy has completed, when it switched to post-copy. Until then this process must not exit.
      if (!receiver.awaitReceived(1, Durations.parse(waitFor))) {
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

  private Workload workload() {
    switch (workload.toLowerCase(Locale.ROOT)) {
      case "idle":
        return Workload.idle();
      case "uniform":
        return Workload.uniform(dirtyRate);
      case "hot-set":
        return Workload.hotSet(dirtyRate);
      case "sequential":
        return Workload.sequential(dirtyRate);
      case "mixed":
        return Workload.mixed(dirtyRate);
      default:
        throw new IllegalArgumentException("unknown workload '" + workload
            + "': use idle, uniform, hot-set, sequential or mixed");
    }
  }

  private static MigrationTarget target(String hostPort) {
    int colon = hostPort.lastIndexOf(':');
    if (colon <= 0) {
      throw new IllegalArgumentException("expected HOST:PORT, got '" + hostPort + "'");
    }
    String host = hostPort.substring(0, colon);
    int port = Integer.parseInt(hostPort.substring(colon + 1));
    return new MigrationTarget(new InetSocketAddress(host, port), "");
  }

  static Bandwidth parseBandwidth(String text) {
    String t = text.trim();
    if (t.equalsIgnoreCase("unlimited")) {
      return Bandwidth.UNLIMITED;
    }
    String lower = t.toLowerCase(Locale.ROOT);
    if (lower.endsWith("/s")) {
      lower = lower.substring(0, lower.length() - 2);
    }
    long factor;
    if (lower.endsWith("gb")) {
      factor = 1_000_000_000L;
    } else if (lower.endsWith("mb")) {
      factor = 1_000_000L;
    } else if (lower.endsWith("kb")) {
      factor = 1_000L;
    } else {
      throw new IllegalArgumentException("bandwidth '" + text + "': use e.g. 200MB/s, 1GB/s or unlimited");
    }
    double n = Double.parseDouble(lower.substring(0, lower.length() - 2).trim());
    if (!(n > 0)) {
      throw new IllegalArgumentException("bandwidth must be positive: '" + text + "'");
    }
    return Bandwidth.bytesPerSecond((long) (n * factor));
  }

  /** One line per event: rounds, decisions, phases, the end. Shared with {@link LibvirtMigrate}. */
  static void print(MigrationEvent e) {
    if (e instanceof MigrationEvent.RoundCompleted rc) {
      RoundStats s = rc.stats();
      Progress p = rc.progress();
      System.out.printf(Locale.ROOT,
          "round %d%s: sent %,d pages (%s) in %d ms at %s; dirty rate %,d pages/s; remaining %s; expected downtime %d ms%n",
          s.round(), s.stopAndCopy() ? " (stop-and-copy)" : "", s.pagesSent(),
          DataSize.bytes(s.pagesSent() * p.pageSize()), s.duration().toMillis(), s.bandwidth(),
          s.dirtyRatePagesPerSecond(), p.remaining(), s.expectedDowntime().toMillis());
    } else if (e instanceof MigrationEvent.Decision d) {
      System.out.printf("policy: %s (%s)%n", String.join(", ", d.actions()), d.reason());
    } else if (e instanceof MigrationEvent.PhaseChanged pc) {
      System.out.printf("phase: %s -> %s at %d ms%n", pc.from(), pc.to(), pc.elapsed().toMillis());
    } else if (e instanceof MigrationEvent.PostCopyProgress pc) {
      if (pc.stats().notMeasured().isPresent()) {
        System.out.printf(Locale.ROOT, "post-copy: %,d pages still to send; %,d requested; not measured: %s%n",
            pc.pagesMissing(), pc.stats().pagesRequested(), pc.stats().notMeasured().get());
      } else {
        System.out.printf(Locale.ROOT, "post-copy: %,d pages still to send; %,d requested, %,d pre-paged, %,d pushed%n",
            pc.pagesMissing(), pc.stats().pagesRequested(), pc.stats().pagesPrepaged(), pc.stats().pagesPushed());
      }
    } else if (e instanceof MigrationEvent.Finished f) {
      MigrationResult r = f.result();
      System.out.printf("finished: %s in %d ms, downtime %s, %d rounds, %s on the wire%s%n", r.outcome(),
          r.totalTime().toMillis(), r.downtimeText(), r.roundCount(), DataSize.bytes(r.bytesOnWire()),
          r.cause().map(c -> ": " + c.getMessage()).orElse(""));
    }
  }

  static String json(MigrationResult r, long memoryBytes) {
    StringBuilder sb = new StringBuilder("{");
    sb.append("\"outcome\":\"").append(r.outcome()).append('"');
    sb.append(",\"totalMs\":").append(r.totalTime().toMillis());
    sb.append(",\"downtimeMs\":").append(r.downtime().map(d -> String.valueOf(d.toMillis())).orElse("null"));
    r.downtimeUnknown().ifPresent(why -> sb.append(",\"downtimeUnknown\":\"").append(why.replace("\"", "'"))
        .append('"'));
    sb.append(",\"rounds\":").append(r.roundCount());
    sb.append(",\"bytesSent\":").append(r.bytesOnWire());
    r.bytesNotFinal().ifPresent(why -> sb.append(",\"bytesNotFinal\":\"").append(escape(why)).append('"'));
    sb.append(",\"pagesSent\":").append(r.pagesSent());
    sb.append(",\"memoryBytes\":").append(memoryBytes);
    sb.append(",\"verified\":").append(r.verified());
    r.postCopy().ifPresent(pc -> {
      // figures the backend does not measure are null, with the reason, never a 0 that reads as one
      boolean all = pc.notMeasured().isEmpty();
      sb.append(",\"postCopy\":{\"ms\":").append(pc.duration().toMillis())
          .append(",\"faults\":").append(all ? String.valueOf(pc.faults()) : "null")
          .append(",\"blockedMs\":").append(all ? String.valueOf(pc.blockedTotal().toMillis()) : "null")
          .append(",\"blockedP99Ms\":").append(all ? String.valueOf(pc.blockedP99().toMillis()) : "null")
          .append(",\"pagesRequested\":").append(pc.pagesRequested())
          .append(",\"pagesPushed\":").append(all ? String.valueOf(pc.pagesPushed()) : "null")
          .append(",\"recoveries\":").append(pc.recoveries());
      pc.notMeasured().ifPresent(why -> sb.append(",\"notMeasured\":\"").append(escape(why)).append('"'));
      sb.append('}');
    });
    r.cause().ifPresent(c -> sb.append(",\"cause\":\"").append(escape(String.valueOf(c.getMessage()))).append('"'));
    return sb.append('}').toString();
  }

  private static String escape(String s) {
    StringBuilder sb = new StringBuilder();
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') {
        sb.append('\\').append(c);
      } else if (c < 0x20) {
        sb.append(String.format("\\u%04x", (int) c));
      } else {
        sb.append(c);
      }
    }
    return sb.toString();
  }
}
