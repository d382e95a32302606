package dev.ferry.benchmarks;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Runs JMH from the shaded jar with short defaults (3 warm-up and 5 measured iterations of one
 * second, one fork) unless the arguments set any of them: the machine is small and shared, and
 * these are quick comparative figures. Without a regex JMH runs every benchmark in the jar, which
 * are only {@code dev.ferry.benchmarks.jmh}'s.
 */
final class Jmh {
  private static final Set<String> TIMING = Set.of("-wi", "-i", "-w", "-r", "-f");

  private Jmh() {}

  static void run(String[] args) throws Exception {
    List<String> a = new ArrayList<>(List.of(args));
    boolean informational = a.contains("-h") || a.contains("-l") || a.contains("-lp");
    if (!informational && a.stream().noneMatch(TIMING::contains)) {
      a.addAll(0, List.of("-wi", "3", "-i", "5", "-w", "1s", "-r", "1s", "-f", "1"));
    }
    org.openjdk.jmh.Main.main(a.toArray(String[]::new));
  }
}
