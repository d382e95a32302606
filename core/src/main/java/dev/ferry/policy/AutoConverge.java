package dev.ferry.policy;

import dev.ferry.Progress;
import java.util.Locale;

/**
 * QEMU's auto-converge: throttle the vCPUs when the guest dirties too much, starting at
 * {@code initial} % and adding {@code increment} % each time it still does, up to {@code max} %.
 *
 * <p>Defaults from QEMU (migration/options.c, migration/ram.c): {@code cpu-throttle-initial} 20,
 * {@code cpu-throttle-increment} 10, {@code max-cpu-throttle} 99, and the trigger
 * {@code throttle-trigger-threshold} 50: a round "does not converge" when the bytes the guest
 * dirtied during it ({@link Progress#remaining()}) exceed 50 % of the bytes it sent
 * ({@link Progress#lastRoundSent()}). One difference: QEMU steps up once every second such sync
 * period; this policy steps up after every such round, as the issue asks (and as its decisions are
 * shown every round). {@code cpu-throttle-tailslow} (off by default) is not reproduced.
 *
 * <p>Falls through (keeps going) when the backend cannot throttle or the throttle is already at
 * {@code max}, so that a later policy in {@link ConvergencePolicy#firstOf} can act. At the last
 * chance before the deadline it aborts. Created by {@link ConvergencePolicy#autoConverge()}.
 * Immutable and thread-safe.
 *
 * @param initial the first throttle, 1 to 99 %
 * @param increment what each further step adds, 1 to 99 %
 * @param max the highest throttle, 1 to 99 %
 * @param threshold dirtied / sent above which a round triggers a step, in (0, 1]
 */
public record AutoConverge(int initial, int increment, int max, double threshold) implements ConvergencePolicy {
  /** QEMU's {@code cpu-throttle-initial}. */
  public static final int QEMU_INITIAL = 20;
  /** QEMU's {@code cpu-throttle-increment}. */
  public static final int QEMU_INCREMENT = 10;
  /** QEMU's {@code max-cpu-throttle}. */
  public static final int QEMU_MAX = 99;
  /** QEMU's {@code throttle-trigger-threshold}, as a fraction. */
  public static final double QEMU_THRESHOLD = 0.5;

  public AutoConverge {
    if (initial < 1 || initial > 99 || increment < 1 || increment > 99 || max < 1 || max > 99) {
      throw new IllegalArgumentException("auto-converge throttle settings must be 1 to 99 %: initial " + initial
          + ", increment " + increment + ", max " + max);
    }
    if (!(threshold > 0 && threshold <= 1)) {
      throw new IllegalArgumentException("auto-converge threshold must be in (0, 1]: " + threshold);
    }
  }

  @Override
  public Decision decide(Progress p) {
    Decision end = Policies.atDeadline(p, TimeoutAction.ABORT, false, "auto-converge");
    if (!end.isEmpty()) {
      return end;
    }
    return step(p);
  }

  /** The throttle step alone, without the deadline: empty when this round does not call for one. */
  Decision step(Progress p) {
    if (!p.throttleAvailable() || p.throttlePercent() >= max) {
      return Decision.keepGoing();
    }
    long dirtied = p.remaining().bytes();
    long sent = p.lastRoundSent().bytes();
    if (dirtied <= threshold * sent) {
      return Decision.keepGoing();
    }
    int next = p.throttlePercent() == 0 ? Math.min(initial, max) : Math.min(max, p.throttlePercent() + increment);
    if (next <= p.throttlePercent()) {
      return Decision.keepGoing();
    }
    return Decision.of(String.format(Locale.ROOT,
        "auto-converge: the guest dirtied %s while %s was sent (over %.0f %%); throttle %d %% -> %d %%",
        Policies.mib(dirtied), Policies.mib(sent), threshold * 100, p.throttlePercent(), next),
        new PolicyAction.SetThrottle(next));
  }

  @Override
  public String toString() {
    return "autoConverge(" + initial + "%+" + increment + "%..." + max + "%)";
  }
}
