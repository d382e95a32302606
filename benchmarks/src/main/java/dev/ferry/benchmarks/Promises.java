package dev.ferry.benchmarks;

import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationPlan;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationTarget;
import dev.ferry.Vm;
import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * The promise benchmark: what a user is promised (a downtime under the limit, a plan that says what
 * will happen, the link's speed) measured where users meet it, in a cold process, at several sizes
 * and loads: memory {1, 2, 4, 8 GiB} x dirty rate {idle, 3,000, 30,000 pages/s} x verification {on,
 * off} x streams {1, 2}, three repetitions each, every repetition in a JVM of its own (the first
 * migration of a process, as the quick start is).
 *
 * <p>A repetition does what the quick start does: a VM of random contents on one sim host, a
 * receiver on another, the link measured with {@link Ferry#measureLink}, a plan with
 * {@link Ferry#plan} (one second of the guest's dirty log), then the migration with the default
 * policy and a 300 ms limit. Per cell it prints the worst downtime over the limit, the plan's worst
 * error on the total time ({@code |planned - actual| / actual}), whether plan and outcome agree on
 * completing, and the median throughput (bytes on the wire over the total time). Its last lines:
 * {@code worst-downtime-ratio: X} (the largest downtime / limit of every run) and
 * {@code plan-error-p90: Y} (the 90th percentile of the plan's error over every run), then
 * {@code outcome-mismatches: N}. Beside the plan's error each cell shows the probe's: how far the
 * link figure the plan assumed was from the rate round 0 then got ({@code |probe - round 0| /
 * round 0}), printed over all runs as {@code link-error-p90}, so a plan that erred because its
 * input did is told from one whose model did.
 *
 * <p>Usage: {@code promises [--quick] [--repeat 3]}; {@code --quick}: 1 GiB only, one repetition
 * (under three minutes).
 */
final class Promises {
  private static final Duration LIMIT = Duration.ofMillis(300);

  private Promises() {}

  /** One run's figures, as the child JVM prints them. */
  record Run(long memoryGib, long dirtyRate, boolean verify, int streams, String outcome, long downtimeMs,
      double planSeconds, double actualSeconds, boolean planCompletes, double gbps, double probeGbps,
      double round0Gbps) {
    double planError() {
      return Math.abs(planSeconds - actualSeconds) / actualSeconds;
    }

    /** How far the probe's link figure was from what round 0 got: the plan's input, not its model. */
    double linkError() {
      return round0Gbps <= 0 ? 0 : Math.abs(probeGbps - round0Gbps) / round0Gbps;
    }

    boolean agrees() {
      return planCompletes == outcome.equals("COMPLETED");
    }
  }

  static int run(String[] args, PrintStream out) throws Exception {
    boolean quick = false;
    int repeat = 3;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--quick" -> quick = true;
        case "--repeat" -> repeat = Integer.parseInt(args[++i]);
        default -> throw new IllegalArgumentException("unknown option " + args[i] + "; promises [--quick] [--repeat N]");
      }
    }
    if (quick) {
      repeat = 1;
    }
    long[] sizes = quick ? new long[] {1} : new long[] {1, 2, 4, 8};
    long[] rates = {0, 3000, 30000};
    List<Run> all = new ArrayList<>();
    out.println("promises: memory x dirty rate x verify x streams, " + repeat + " repetition(s) each, a JVM per run;"
        + " limit " + LIMIT.toMillis() + " ms");
    out.println("memory  dirty/s  verify  streams  worst downtime/limit  plan error (worst)  link error (worst)  "
        + "plan=outcome  median GB/s  outcomes");
    long t0 = System.nanoTime();
    for (long gib : sizes) {
      for (long rate : rates) {
        for (boolean verify : new boolean[] {true, false}) {
          for (int streams = 1; streams <= 2; streams++) {
            List<Run> cell = new ArrayList<>();
            for (int r = 0; r < repeat; r++) {
              cell.add(child(gib, rate, verify, streams, out));
            }
            all.addAll(cell);
            print(out, cell);
          }
        }
      }
    }
    double worst = all.stream().mapToDouble(r -> r.downtimeMs() / (double) LIMIT.toMillis()).max().orElse(0);
    List<Double> errors = new ArrayList<>(all.stream().map(Run::planError).toList());
    Collections.sort(errors);
    double p90 = p90(errors);
    List<Double> linkErrors = new ArrayList<>(all.stream().map(Run::linkError).toList());
    Collections.sort(linkErrors);
    long mismatches = all.stream().filter(r -> !r.agrees()).count();
    out.printf(Locale.ROOT, "%d runs in %.0f s%n", all.size(), (System.nanoTime() - t0) / 1e9);
    out.printf(Locale.ROOT, "worst-downtime-ratio: %.2f%n", worst);
    out.printf(Locale.ROOT, "plan-error-p90: %.2f%n", p90);
    out.printf(Locale.ROOT, "link-error-p90: %.2f%n", p90(linkErrors));
    out.printf("outcome-mismatches: %d%n", mismatches);
    return worst <= 1.0 && p90 < 0.2 && mismatches == 0 ? 0 : 1;
  }

  private static double p90(List<Double> sorted) {
    return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(sorted.size() * 0.9) - 1));
  }

  private static void print(PrintStream out, List<Run> cell) {
    Run first = cell.get(0);
    double worst = cell.stream().mapToDouble(r -> r.downtimeMs() / (double) LIMIT.toMillis()).max().orElse(0);
    double planErr = cell.stream().mapToDouble(Run::planError).max().orElse(0);
    double linkErr = cell.stream().mapToDouble(Run::linkError).max().orElse(0);
    boolean agree = cell.stream().allMatch(Run::agrees);
    List<Double> gbps = new ArrayList<>(cell.stream().map(Run::gbps).toList());
    Collections.sort(gbps);
    String outcomes = String.join(",", cell.stream().map(Run::outcome).toList());
    out.printf(Locale.ROOT, "%3d GiB  %7d  %6s  %7d  %20.2f  %18.0f%%  %18.0f%%  %12s  %11.2f  %s%n",
        first.memoryGib(), first.dirtyRate(), first.verify() ? "on" : "off", first.streams(), worst, planErr * 100,
        linkErr * 100, agree ? "yes" : "NO",
        gbps.get(gbps.size() / 2), outcomes);
  }

  /** Runs one repetition in a fresh JVM and parses its one result line. */
  private static Run child(long gib, long rate, boolean verify, int streams, PrintStream out) throws Exception {
    String java = ProcessHandle.current().info().command()
        .orElse(System.getProperty("java.home") + File.separator + "bin" + File.separator + "java");
    long direct = (2 * gib + 2) << 30;
    List<String> cmd = List.of(java, "-Xmx1g", "-XX:MaxDirectMemorySize=" + (direct >> 20) + "m",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", System.getProperty("java.class.path"),
        Promises.class.getName(), String.valueOf(gib), String.valueOf(rate), String.valueOf(verify),
        String.valueOf(streams));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String result = null;
    List<String> lines = new ArrayList<>();
    try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String l;
      while ((l = r.readLine()) != null) {
        lines.add(l);
        if (l.startsWith("RUN ")) {
          result = l;
        }
      }
    }
    p.waitFor();
    if (result == null) {
      out.println("a run printed no result; its output:");
      lines.stream().skip(Math.max(0, lines.size() - 20)).forEach(l -> out.println("  " + l));
      return new Run(gib, rate, verify, streams, "NO_RESULT", Long.MAX_VALUE / 2, 0, 1, true, 0, 0, 0);
    }
    String[] f = result.substring(4).split(" ");
    return new Run(gib, rate, verify, streams, f[0], Long.parseLong(f[1]), Double.parseDouble(f[2]),
        Double.parseDouble(f[3]), Boolean.parseBoolean(f[4]), Double.parseDouble(f[5]), Double.parseDouble(f[6]),
        Double.parseDouble(f[7]));
  }

  /**
   * One repetition: {@code gib rate verify streams}; prints
   * {@code RUN outcome downtimeMs plan actual completes gbps probeGbps round0Gbps}.
   */
  public static void main(String[] args) throws Exception {
    long gib = Long.parseLong(args[0]);
    long rate = Long.parseLong(args[1]);
    boolean verify = Boolean.parseBoolean(args[2]);
    int streams = Integer.parseInt(args[3]);
    try (Host a = Ferry.connect("sim://promise-a"); Host b = Ferry.connect("sim://promise-b")) {
      SimHost.named("promise-a").createVm(SimVmSpec.builder("vm").memory(DataSize.gib(gib)).vcpus(2)
          .workload(rate == 0 ? Workload.idle() : Workload.uniform(rate)).seed(gib * 31 + rate).build())
          .fillRandom(gib + rate);
      Vm vm = a.vm("vm");
      MigrationTarget target = b.target();
      MigrationOptions options = MigrationOptions.builder().maxDowntime(LIMIT).deadline(Duration.ofMinutes(2))
          .verify(verify).streams(streams).build();
      Bandwidth link = Ferry.measureLink(target, Duration.ofMillis(250));
      MigrationPlan plan = Ferry.plan(vm, link, options, Duration.ofSeconds(1));
      MigrationResult r = a.migrate(vm, target, options).completion().get();
      double actual = r.totalTime().toNanos() / 1e9;
      double round0 = r.rounds().isEmpty() ? 0 : r.rounds().get(0).bandwidth().bytesPerSecond() / 1e9;
      System.out.printf(Locale.ROOT, "RUN %s %d %.3f %.3f %s %.3f %.3f %.3f%n", r.outcome(),
          r.downtimeMillisOrMinusOne(), plan.run().total().toNanos() / 1e9, actual, plan.run().completes(),
          r.bytesOnWire() / 1e9 / actual, link.bytesPerSecond() / 1e9, round0);
      if (!r.completed()) {
        System.out.println("cause: " + r.cause().map(Throwable::getMessage).orElse(""));
      }
    } finally {
      SimHost.destroyAll();
    }
    System.exit(0);
  }
}
