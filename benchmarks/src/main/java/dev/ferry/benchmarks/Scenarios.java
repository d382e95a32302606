package dev.ferry.benchmarks;

import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationTarget;
import dev.ferry.policy.ConvergencePolicy;
import dev.ferry.policy.Decision;
import dev.ferry.policy.PolicyAction;
import dev.ferry.policy.PreCopyModel;
import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimVm;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.GuestMemory;
import dev.ferry.spi.VmState;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The convergence scenario table: scenarios × every built-in policy, on the sim backend over TCP on
 * 127.0.0.1 with a bandwidth limit; then measured pre-copy against the analytic model.
 *
 * <p>Scenarios (rates in multiples of the link's page rate P = bandwidth / 4 KiB):
 * <ul>
 *   <li>{@code idle}: writes nothing;
 *   <li>{@code converging}: a hot set (10 % of pages get 90 % of 0.3 P writes/s): pre-copy
 *       converges on its own;
 *   <li>{@code above-bandwidth}: uniform writes at 2.5 P: the guest dirties faster than the link
 *       sends;
 *   <li>{@code hot-set}: 95 % of 2 P writes/s go to a hot set whose copy alone takes longer than the
 *       downtime limit (it levels off above the limit whatever the rounds);
 *   <li>{@code bursty}: uniform writes at 0.2 P, plus bursts of 3 P writes/s, one second on, one
 *       second off (a writer thread beside the vCPUs that honours pause and throttle).
 * </ul>
 * Every run: max downtime 300 ms, the deadline below, post-copy allowed (so policies that use it,
 * can), no verification. Guest slowdown is the vCPU time each vCPU lost:
 * {@link MigrationResult#guestSlowdown()} (throttle share × time, which every vCPU loses alike)
 * plus, after a switch to post-copy, the time vCPUs spent blocked on missing pages divided by the
 * number of vCPUs (the blocked time is summed over them).
 *
 * <p>Usage: {@code scenarios [--quick] [--out FILE.csv] [--only SCENARIO]}.
 */
final class Scenarios {
  private static final Duration LIMIT = Duration.ofMillis(300);
  static final int VCPUS = 2;
  private static final AtomicInteger SEQ = new AtomicInteger();

  private Scenarios() {}

  /** Sizes of a run of the table. */
  record Scale(String name, DataSize memory, Bandwidth link, Duration deadline) {
    long linkPages() {
      return link.bytesPerSecond() / 4096;
    }
  }

  static final Scale FULL = new Scale("full", DataSize.mib(256), Bandwidth.mbps(100), Duration.ofSeconds(30));
  static final Scale QUICK = new Scale("quick", DataSize.mib(32), Bandwidth.mbps(40), Duration.ofSeconds(6));

  /** A guest behaviour. */
  record Scenario(String name, String description, Workload workload, long burstPagesPerSecond, boolean converges) {}

  static List<Scenario> scenarios(Scale s) {
    long p = s.linkPages();
    // The hot set must take longer to copy than the limit: 25 % of 256 MiB (0.67 s at 100 MB/s),
    // 50 % of 32 MiB (0.42 s at 40 MB/s).
    double hotFraction = s.memory().bytes() * 0.25 / s.link().bytesPerSecond() > 0.5 ? 0.25 : 0.5;
    return List.of(
        new Scenario("idle", "no writes", Workload.idle(), 0, true),
        new Scenario("converging", "hot set, 0.3x link", Workload.hotSet(Math.max(1, p * 3 / 10)), 0, true),
        new Scenario("above-bandwidth", "uniform, 2.5x link", Workload.uniform(p * 5 / 2), 0, false),
        new Scenario("hot-set", String.format(Locale.ROOT, "%.0f %% of pages get 95 %% of 2x link", hotFraction * 100),
            Workload.hotSet(p * 2, hotFraction, 0.95), 0, false),
        new Scenario("bursty", "uniform 0.2x link + 3x link bursts 1 s on/1 s off", Workload.uniform(Math.max(1, p / 5)),
            p * 3, false));
  }

  /** One cell of the table. */
  record Row(String scenario, String policy, String outcome, double totalSeconds, long downtimeMs, long bytes,
      int rounds, double slowdownSeconds, int maxThrottle, long faults, long blockedMs, boolean limitMet,
      boolean deadlineMet, String steps, double planSeconds, String planEnding, boolean planCompletes) {
    boolean met() {
      return limitMet && deadlineMet;
    }

    /** Whether the plan said the migration completes exactly when it did. */
    boolean planAgrees() {
      return planCompletes == outcome.startsWith("COMPLETED");
    }

    /** The plan's error on the total time, as a fraction of the actual. */
    double planError() {
      return Math.abs(planSeconds - totalSeconds) / totalSeconds;
    }
  }

  /** A migration's result with the plan made for it just before it started. */
  record Planned(MigrationResult result, dev.ferry.MigrationPlan plan) {}

  static int run(String[] args, PrintStream out) throws Exception {
    Scale scale = FULL;
    Path csv = null;
    String only = null;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--quick" -> scale = QUICK;
        case "--out" -> csv = Path.of(value(args, ++i, "--out"));
        case "--only" -> only = value(args, ++i, "--only");
        default -> {
          System.err.println("unknown option '" + args[i] + "'; usage: scenarios [--quick] [--out FILE.csv] [--only SCENARIO]");
          return 2;
        }
      }
    }
    if (csv == null) {
      csv = Path.of("benchmarks", "target", "scenarios-" + scale.name() + ".csv");
    }
    if (System.getProperty("org.slf4j.simpleLogger.log.dev.ferry") == null) {
      // Roll-backs are expected here: keep the engine's warnings out of the table.
      System.setProperty("org.slf4j.simpleLogger.log.dev.ferry", "error");
    }
    long t0 = System.nanoTime();
    out.printf(Locale.ROOT, "convergence scenarios (%s): %s VM, 2 vCPUs, link %s, max downtime %d ms, deadline %d s, "
        + "post-copy allowed%n%n", scale.name(), scale.memory(), scale.link(), LIMIT.toMillis(), scale.deadline().toSeconds());
    List<Row> rows = new ArrayList<>();
    out.println(header());
    for (Scenario sc : scenarios(scale)) {
      if (only != null && !only.equals(sc.name())) {
        continue;
      }
      for (Map.Entry<String, ConvergencePolicy> e : policies().entrySet()) {
        Row r = runOne(scale, sc, e.getKey(), e.getValue());
        rows.add(r);
        out.println(format(r));
      }
    }
    out.println();
    planAccuracy(rows, out);
    out.println();
    verdict(rows, out);
    out.println();
    modelCheck(scale, out);
    writeCsv(csv, rows);
    out.printf(Locale.ROOT, "%nwrote %s; %d runs in %.0f s%n", csv, rows.size(), (System.nanoTime() - t0) / 1e9);
    SimHost.destroyAll();
    return 0;
  }

  /**
   * Every built-in policy, and plain post-copy: one full pass of pre-copy, then resume on the
   * destination (QEMU's usual use of postcopy-ram), whatever the guest does.
   */
  static Map<String, ConvergencePolicy> policies() {
    Map<String, ConvergencePolicy> m = new LinkedHashMap<>(ConvergencePolicy.builtIns());
    m.put("post-copy", p -> Decision.of("switch after the first pass", new PolicyAction.SwitchToPostCopy()));
    return m;
  }

  static Row runOne(Scale scale, Scenario sc, String policyName, ConvergencePolicy policy) throws Exception {
    MigrationOptions options = MigrationOptions.builder().maxDowntime(LIMIT).deadline(scale.deadline())
        .bandwidthLimit(scale.link()).allowPostCopy(true).policy(policy).build();
    Planned planned = migrate(scale, sc, options);
    MigrationResult r = planned.result();
    dev.ferry.MigrationPlan plan = planned.plan();
    double slowdown = r.guestSlowdown().toNanos() / 1e9
        + r.postCopy().map(pc -> pc.blockedTotal().toNanos() / 1e9 / VCPUS).orElse(0.0);
    int maxThrottle = r.rounds().stream().mapToInt(x -> x.throttlePercent()).max().orElse(0);
    boolean completed = r.completed();
    List<String> steps = new ArrayList<>();
    for (String a : r.actions()) {
      int paren = a.indexOf(" (");
      steps.add(paren > 0 ? a.substring(0, paren) : a);
    }
    return new Row(sc.name(), policyName, r.outcome().name() + (r.postCopy().isPresent() ? "+PC" : ""),
        r.totalTime().toNanos() / 1e9, r.downtimeMillisOrMinusOne(), r.bytesOnWire(), r.roundCount(), slowdown, maxThrottle,
        r.postCopy().map(pc -> pc.faults()).orElse(0L), r.postCopy().map(pc -> pc.blockedTotal().toMillis()).orElse(0L),
        completed && r.downtime().map(d -> d.compareTo(LIMIT) <= 0).orElse(false), completed && r.totalTime().compareTo(scale.deadline()) <= 0,
        compact(steps), plan.run().total().toNanos() / 1e9, plan.run().ending().name(), plan.run().completes());
  }

  /**
   * Migrates a fresh VM of the scenario between two fresh sim hosts, after a plan of it (half a
   * second of its dirty log, over the scenario's link) with the same options.
   */
  static Planned migrate(Scale scale, Scenario sc, MigrationOptions options) throws Exception {
    int n = SEQ.incrementAndGet();
    SimHost a = SimHost.named("scn-a-" + n);
    SimHost b = SimHost.named("scn-b-" + n);
    Burster burster = null;
    try (Host src = Ferry.connect("sim://" + a.name()); Host dst = Ferry.connect("sim://" + b.name())) {
      SimVm vm = a.createVm(SimVmSpec.builder("vm").memory(scale.memory()).vcpus(VCPUS).workload(sc.workload())
          .seed(42).build());
      vm.fillRandom(7);
      if (sc.burstPagesPerSecond() > 0) {
        burster = new Burster(vm, sc.burstPagesPerSecond());
        burster.start();
      }
      Thread.sleep(300); // let the workload reach its rate
      MigrationTarget target = dst.target();
      dev.ferry.MigrationPlan plan = Ferry.plan(src.vm("vm"), scale.link(), options, Duration.ofMillis(500));
      return new Planned(src.migrate(src.vm("vm"), target, options).completion().get(), plan);
    } finally {
      if (burster != null) {
        burster.interrupt();
        burster.join(2_000);
      }
      a.destroy();
      b.destroy();
    }
  }

  /**
   * Bursts of writes beside the vCPUs: {@code rate} pages per second for one second, then one
   * second quiet, and again. It writes only while the VM runs and scales its rate by the vCPU
   * throttle, as a vCPU would; it stops when the VM's memory goes away.
   */
  static final class Burster extends Thread {
    private final SimVm vm;
    private final long rate;

    Burster(SimVm vm, long rate) {
      super("scenario-burster");
      setDaemon(true);
      this.vm = vm;
      this.rate = rate;
    }

    @Override
    public void run() {
      GuestMemory mem = vm.memory().orElseThrow();
      ByteBuffer page = ByteBuffer.allocateDirect(mem.pageSize());
      SplittableRandom rnd = new SplittableRandom(11);
      long start = System.nanoTime();
      double credit = 0;
      long last = start;
      try {
        while (!isInterrupted()) {
          Thread.sleep(5);
          long now = System.nanoTime();
          boolean on = ((now - start) / 1_000_000_000L) % 2 == 0;
          int throttle = vm.throttle().map(t -> t.percent()).orElse(0);
          credit = on ? Math.min(rate * 0.05, credit + (now - last) / 1e9 * rate * (100 - throttle) / 100) : 0;
          last = now;
          while (credit >= 1 && vm.state() == VmState.RUNNING) {
            long p = rnd.nextLong(mem.pageCount());
            page.clear();
            page.putLong(0, now ^ p);
            mem.writePage(p, page);
            vm.log().mark(p);
            credit--;
          }
        }
      } catch (InterruptedException | RuntimeException e) {
        // stopped, or the VM's memory is gone
      }
    }
  }

  // ------------------------------------------------------------------ output

  static String header() {
    return String.format(Locale.ROOT, "%-16s %-16s %-14s %8s %9s %9s %6s %9s %5s %6s %8s %5s %5s %7s %-10s  %s",
        "scenario", "policy", "outcome", "total s", "downtime", "MiB sent", "rounds", "slowdown", "thr%", "faults",
        "blocked", "limit", "dline", "plan s", "plan", "steps");
  }

  static String format(Row r) {
    return String.format(Locale.ROOT,
        "%-16s %-16s %-14s %8.1f %6d ms %9.0f %6d %7.1f s %5d %6d %5d ms %5s %5s %7.1f %-10s  %s",
        r.scenario(), r.policy(), r.outcome(), r.totalSeconds(), r.downtimeMs(), r.bytes() / 1048576.0, r.rounds(),
        r.slowdownSeconds(), r.maxThrottle(), r.faults(), r.blockedMs(), r.limitMet() ? "yes" : "no",
        r.deadlineMet() ? "yes" : "no", r.planSeconds(), r.planEnding() + (r.planAgrees() ? "" : "!"), r.steps());
  }

  /**
   * How well the plan made before each run said what followed: outcome (completes or not) and total
   * time. A "!" after the plan's ending in the table marks a run where they disagree.
   */
  static void planAccuracy(List<Row> rows, PrintStream out) {
    long agree = rows.stream().filter(Row::planAgrees).count();
    List<Double> errors = new ArrayList<>(rows.stream().filter(r -> r.planAgrees() && r.outcome().startsWith(
        "COMPLETED")).map(Row::planError).toList());
    java.util.Collections.sort(errors);
    double median = errors.isEmpty() ? 0 : errors.get(errors.size() / 2);
    double p90 = errors.isEmpty() ? 0 : errors.get(Math.min(errors.size() - 1, (int) Math.ceil(errors.size() * 0.9) - 1));
    out.printf(Locale.ROOT, "plan accuracy: the plan's outcome matched in %d of %d runs; error on the total time of the "
        + "completed runs: median %.0f %%, p90 %.0f %%%n", agree, rows.size(), median * 100, p90 * 100);
  }

  /** Whether predictive meets limit and deadline wherever any policy does, and how it compares with the best anchor. */
  static void verdict(List<Row> rows, PrintStream out) {
    Map<String, List<Row>> byScenario = new LinkedHashMap<>();
    for (Row r : rows) {
      byScenario.computeIfAbsent(r.scenario(), k -> new ArrayList<>()).add(r);
    }
    out.println("verdict (predictive against the anchors' policies, per scenario):");
    for (Map.Entry<String, List<Row>> e : byScenario.entrySet()) {
      Row pred = e.getValue().stream().filter(r -> r.policy().equals("predictive")).findFirst().orElse(null);
      List<Row> anchors = e.getValue().stream().filter(r -> !r.policy().equals("predictive") && r.met()).toList();
      if (pred == null) {
        continue;
      }
      String line;
      if (anchors.isEmpty()) {
        line = pred.met() ? "only predictive meets limit and deadline" : "no policy meets limit and deadline";
      } else if (!pred.met()) {
        line = "MISSED: " + anchors.size() + " anchor policies meet limit and deadline, predictive does not";
      } else {
        Row fastest = anchors.stream().min((x, y) -> Double.compare(x.totalSeconds(), y.totalSeconds())).orElseThrow();
        Row gentlest = anchors.stream().min((x, y) -> Double.compare(x.slowdownSeconds(), y.slowdownSeconds())).orElseThrow();
        line = String.format(Locale.ROOT, "meets both; total %.1f s vs fastest anchor %.1f s (%s); slowdown %.1f s vs "
            + "gentlest anchor %.1f s (%s)", pred.totalSeconds(), fastest.totalSeconds(), fastest.policy(),
            pred.slowdownSeconds(), gentlest.slowdownSeconds(), gentlest.policy());
      }
      out.printf("  %-16s %s%n", e.getKey(), line);
    }
  }

  /**
   * Measured pre-copy of a uniform writer against the analytic model (Akoush et al., MASCOTS 2010:
   * round i sends M·ρ^i, ρ = D/R; stop when M·ρ^(n+1)/R fits the limit) and against
   * {@link PreCopyModel}. The fixed-downtime policy, so nothing but pre-copy acts.
   */
  static void modelCheck(Scale scale, PrintStream out) throws Exception {
    out.println("pre-copy of a uniform writer, measured vs the analytic model (geometric series in rho = dirty rate / bandwidth):");
    out.printf(Locale.ROOT, "%-6s %12s %12s %14s %14s %12s %12s%n", "rho", "rounds meas", "rounds model",
        "MiB meas", "MiB model", "total meas", "total model");
    for (double rho : new double[] {0.3, 0.6}) {
      long rate = (long) (scale.linkPages() * rho);
      Scenario sc = new Scenario("uniform", "", Workload.uniform(rate), 0, true);
      MigrationOptions options = MigrationOptions.builder().maxDowntime(LIMIT).deadline(scale.deadline())
          .bandwidthLimit(scale.link()).policy(ConvergencePolicy.fixedDowntime()).build();
      MigrationResult r = migrate(scale, sc, options).result();
      double m = scale.memory().bytes();
      double bw = scale.link().bytesPerSecond();
      double limit = LIMIT.toNanos() / 1e9;
      // Round i sends M·rho^i; the first n with M·rho^(n+1)/R within the limit ends pre-copy after
      // n + 1 rounds, then stop-and-copy sends M·rho^(n+1).
      int n = 0;
      while (m * Math.pow(rho, n + 1) / bw > limit && n < 1000) {
        n++;
      }
      double bytes = 0;
      for (int i = 0; i <= n + 1; i++) {
        bytes += m * Math.pow(rho, i);
      }
      double total = bytes / bw;
      out.printf(Locale.ROOT, "%-6.1f %12d %12d %14.0f %14.0f %10.1f s %10.1f s%n", rho, r.roundCount(), n + 2,
          r.bytesOnWire() / 1048576.0, bytes / 1048576.0, r.totalTime().toNanos() / 1e9, total);
    }
    out.println("(rounds include stop-and-copy; measured bytes include framing, 9 bytes per page; the sim's dirty"
        + " rate counts distinct pages, a little under the write rate as pages are rewritten)");
  }

  static void writeCsv(Path path, List<Row> rows) throws IOException {
    if (path.getParent() != null) {
      Files.createDirectories(path.getParent());
    }
    try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(path, StandardCharsets.UTF_8))) {
      w.println("scenario,policy,outcome,total_s,downtime_ms,bytes_sent,rounds,slowdown_s,max_throttle_pct,"
          + "postcopy_faults,postcopy_blocked_ms,limit_met,deadline_met,plan_total_s,plan_ending,steps");
      for (Row r : rows) {
        w.printf(Locale.ROOT, "%s,%s,%s,%.3f,%d,%d,%d,%.3f,%d,%d,%d,%b,%b,%.3f,%s,\"%s\"%n", r.scenario(), r.policy(),
            r.outcome(), r.totalSeconds(), r.downtimeMs(), r.bytes(), r.rounds(), r.slowdownSeconds(), r.maxThrottle(),
            r.faults(), r.blockedMs(), r.limitMet(), r.deadlineMet(), r.planSeconds(), r.planEnding(),
            r.steps().replace("\"", "'"));
      }
    }
  }

  /** Actions in order, repeats collapsed ("throttle 20 % → throttle 30 % → … → abort"). */
  static String compact(List<String> steps) {
    if (steps.isEmpty()) {
      return "-";
    }
    if (steps.size() <= 4) {
      return String.join(" > ", steps);
    }
    return steps.get(0) + " > " + steps.get(1) + " > ... (" + (steps.size() - 3) + " more) > " + steps.get(steps.size() - 1);
  }

  private static String value(String[] args, int i, String option) {
    if (i >= args.length) {
      throw new IllegalArgumentException(option + " needs a value");
    }
    return args[i];
  }
}
