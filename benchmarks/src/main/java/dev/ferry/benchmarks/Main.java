package dev.ferry.benchmarks;

import java.io.PrintStream;
import java.util.Arrays;

/**
 * The benchmarks' command line: {@code java -jar benchmarks/target/ferry-benchmarks.jar <command>}.
 *
 * <ul>
 *   <li>{@code throughput [--size 1GiB] [--repeat 3] [--cold 3] [--tls]}: raw loopback TCP against
 *       a Ferry migration of the same number of bytes, in one run (with {@code --tls}, TLS against
 *       plaintext too; then cold repetitions in fresh JVMs); see {@link Throughput}.
 *   <li>{@code jmh [JMH arguments]}: the JMH micro-benchmarks ({@code dev.ferry.benchmarks.jmh}),
 *       with short default iterations unless the arguments set them.
 * </ul>
 */
public final class Main {
  private Main() {}

  public static void main(String[] args) throws Exception {
    // Keep the library's logging to warnings so the figures read cleanly; pass
    // -Dorg.slf4j.simpleLogger.defaultLogLevel=info to see what the engine does.
    if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
      System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    }
    if (args.length == 0 || args[0].equals("help") || args[0].equals("-h") || args[0].equals("--help")) {
      usage(System.out);
      return;
    }
    String[] rest = Arrays.copyOfRange(args, 1, args.length);
    switch (args[0]) {
      case "throughput" -> System.exit(Throughput.run(rest, System.out));
      case "jmh" -> Jmh.run(rest);
      case "scenarios" -> System.exit(Scenarios.run(rest, System.out));
      case "soak" -> System.exit(Soak.run(rest, System.out));
      case "promises" -> System.exit(Promises.run(rest, System.out));
      case "kvm-vs-qemu" -> System.exit(KvmVsQemu.run(rest, System.out));
      case "sparse" -> System.exit(Sparse.run(rest, System.out));
      default -> {
        System.err.println("unknown command '" + args[0] + "'");
        usage(System.err);
        System.exit(2);
      }
    }
  }

  static void usage(PrintStream out) {
    out.println("usage: java -jar ferry-benchmarks.jar <command> [options]");
    out.println();
    out.println("commands:");
    out.println("  throughput [--size 1GiB] [--repeat 3] [--cold 3] [--tls]");
    out.println("      raw loopback TCP (one JVM, two threads) against a one-stream Ferry migration of an");
    out.println("      idle sim VM of incompressible pages, interleaved; medians, then the ratio Ferry/raw.");
    out.println("      --tls adds, in each repetition, the same migration over TLS 1.3 (mutual authentication,");
    out.println("      certificates made for the run) on one stream, and plaintext and TLS on two streams;");
    out.println("      then the ratios TLS/plaintext.");
    out.println("      Then --cold repetitions, each raw (into fresh guest memory) and Ferry in a fresh JVM:");
    out.println("      the first migration of a process; last line throughput-ratio-cold.");
    out.println("  scenarios [--quick] [--out FILE.csv] [--only SCENARIO]");
    out.println("      the convergence table: five guest behaviours x every built-in policy on sim over");
    out.println("      loopback TCP with a bandwidth limit, then measured pre-copy vs the analytic model;");
    out.println("      CSV to benchmarks/target/scenarios-{full,quick}.csv. --quick: under two minutes.");
    out.println("  promises [--quick] [--repeat 3]");
    out.println("      downtime against the limit, the plan's error and the throughput, in a cold JVM per run:");
    out.println("      memory {1,2,4,8 GiB} x dirty {idle,3000,30000 pages/s} x verify x streams {1,2}.");
    out.println("      --quick: 1 GiB, one repetition (under three minutes).");
    out.println("  soak [--count 200] [--memory 64MiB]");
    out.println("      one busy VM migrated back and forth between two sim hosts; threads, file descriptors,");
    out.println("      direct memory and heap after every tenth migration, the 10th against the last.");
    out.println("  sparse [--memory 64GiB] [--touched 2GiB]");
    out.println("      a large VM that wrote little, spread over all of it, migrated with verification: bytes on");
    out.println("      the wire, what each end holds, the process's peak resident memory over twice the touched.");
    out.println("  kvm-vs-qemu [--mb 1000] [--rate 100] [--settle S] [--repeat 1] [--kernel it/target/guest.elf]");
    out.println("      the test guest migrated by Ferry's engine between two ferry-kvm hosts and by QEMU between");
    out.println("      two QEMU/KVM processes, in one run: total, downtime, bytes, throughput, and the ratios.");
    out.println("  jmh [regex] [JMH options]");
    out.println("      JMH micro-benchmarks of the page codec (dev.ferry.benchmarks.jmh); short default");
    out.println("      iterations (-wi 3 -i 5 -w 1s -r 1s -f 1) unless given. 'jmh -h' for JMH's options.");
  }
}
