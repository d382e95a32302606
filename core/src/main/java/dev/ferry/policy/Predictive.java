package dev.ferry.policy;

import dev.ferry.Progress;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;

/**
 * Predicts where pre-copy is heading and goes at once to the cheapest step that meets the downtime
 * limit and the deadline, instead of waiting rounds for a schedule to get there. The default
 * policy.
 *
 * <p>Design note. Every round, from the round's {@link Progress} (dirty rate, working set,
 * bandwidth, remaining bytes, expected downtime), build the {@link PreCopyModel} and run it forward
 * at the current throttle: how many rounds until the expected downtime fits, the downtime it leaves,
 * when. Then, cheapest first:
 * <ol>
 *   <li>If it converges within {@code downtimeMargin} of the limit and {@code deadlineMargin} of the
 *       time left, keep going (and, if a throttle is on and one at least 10 points lower would
 *       still converge within {@code maxRounds} rounds with a stricter margin, lower it: a burst
 *       has passed).
 *   <li>Else the smallest throttle (up to {@code maxThrottle}) with which it converges within
 *       {@code maxRounds} rounds and the margins; failing that, the smallest with which it converges
 *       at all in time. Bounding the rounds matters: a throttle that only just makes the dirty rate
 *       smaller than the bandwidth converges slowly and slows the guest for longer in all. When
 *       post-copy is possible too, the cheaper of the two for the guest wins: the throttle costs
 *       its share of vCPU time for as long as the plan holds it; post-copy costs each vCPU the wait
 *       for the pages it touches that have not arrived, at most its working set (what remains,
 *       before a working set is known) over the bandwidth.
 *   <li>Else post-copy, if {@code allowPostCopy} and the engine offers it.
 *   <li>Else the throttle that comes closest to the limit, if it is higher than the one in force:
 *       the one in force is known not to converge, and the next round measures the new one.
 *   <li>Else keep going (the measurements may move) until the last chance before the deadline
 *       ({@link Progress#lastChance()}), then {@code atDeadline}: abort or force completion.
 * </ol>
 * It re-plans every round: a throttle that turned out too small (a hot working set that the model
 * assumed would shrink) is raised from the new measurements, one that is no longer needed is
 * lowered.
 *
 * <p>Defaults: max throttle 99 % (QEMU's {@code max-cpu-throttle}), at most 5 further rounds when a
 * throttle is needed, margins 0.8, abort at the deadline, and post-copy allowed by the policy: it is
 * used only when the migration allows it too ({@link dev.ferry.MigrationOptions#allowPostCopy()},
 * off by default, as Nova's {@code permit_post_copy} and KubeVirt's {@code allowPostCopy} are), so
 * that one setting decides.
 * Created by {@link ConvergencePolicy#predictive()}. Immutable and thread-safe.
 *
 * @param maxThrottle the highest throttle to use, 0 (never throttle) to 99 %
 * @param maxRounds further rounds a throttled plan may take, at least 1
 * @param allowPostCopy whether to switch to post-copy when no throttle meets the limit
 * @param atDeadline what to do at the last chance before the deadline
 * @param downtimeMargin the share of the downtime limit a plan may use, in (0, 1]
 * @param deadlineMargin the share of the time left a plan may use, in (0, 1]
 */
public record Predictive(int maxThrottle, int maxRounds, boolean allowPostCopy, TimeoutAction atDeadline,
    double downtimeMargin, double deadlineMargin) implements ConvergencePolicy {
  /** A throttle short of the limit is taken only if its pause is below this share of the current one. */
  private static final double CLOSER = 0.9;
  private static final int LOWER_STEP = 10;
  private static final double STRICT = 0.6;

  public Predictive {
    Policies.percent(maxThrottle, "max throttle");
    if (maxRounds < 1) {
      throw new IllegalArgumentException("max rounds must be at least 1: " + maxRounds);
    }
    Objects.requireNonNull(atDeadline, "atDeadline");
    if (!(downtimeMargin > 0 && downtimeMargin <= 1) || !(deadlineMargin > 0 && deadlineMargin <= 1)) {
      throw new IllegalArgumentException("margins must be in (0, 1]: " + downtimeMargin + ", " + deadlineMargin);
    }
  }

  /** The defaults listed above. */
  public static Predictive defaults() {
    return new Predictive(99, 5, true, TimeoutAction.ABORT, 0.8, 0.8);
  }

  /** The same policy, switching to post-copy (when the engine offers it) if no throttle meets the limit. */
  public Predictive withPostCopy(boolean allow) {
    return new Predictive(maxThrottle, maxRounds, allow, atDeadline, downtimeMargin, deadlineMargin);
  }

  /** The same policy with another action at the deadline. */
  public Predictive withDeadlineAction(TimeoutAction action) {
    return new Predictive(maxThrottle, maxRounds, allowPostCopy, action, downtimeMargin, deadlineMargin);
  }

  /** The same policy with another highest throttle (0 never throttles). */
  public Predictive withMaxThrottle(int percent) {
    return new Predictive(percent, maxRounds, allowPostCopy, atDeadline, downtimeMargin, deadlineMargin);
  }

  @Override
  public Decision decide(Progress p) {
    Decision end = Policies.atDeadline(p, atDeadline, allowPostCopy, "predictive");
    if (!end.isEmpty()) {
      return end;
    }
    PreCopyModel model = PreCopyModel.of(p);
    double remaining = p.remaining().bytes();
    int now = PreCopyModel.clampThrottle(p.throttlePercent());
    Duration limit = scale(p.downtimeLimit(), downtimeMargin);
    Duration budget = p.hasDeadline() ? scale(p.timeLeft(), deadlineMargin) : Duration.ZERO;
    PreCopyModel.Forecast current = model.forecast(remaining, now, limit, budget);
    boolean canThrottle = p.throttleAvailable();
    if (current.converges()) {
      if (canThrottle && now > 0) {
        Duration strictLimit = scale(limit, STRICT);
        Duration strictBudget = budget.isZero() ? Duration.ZERO : scale(budget, STRICT);
        for (int t = 0; t <= now - LOWER_STEP; t++) {
          PreCopyModel.Forecast f = model.forecast(remaining, t, strictLimit, strictBudget);
          if (f.converges() && f.rounds() <= maxRounds) {
            return Decision.of("predictive: " + describe(model, p) + "; at " + now + " % " + current
                + "; a lower throttle is enough: " + f, new PolicyAction.SetThrottle(t));
          }
        }
      }
      return Decision.keepGoing();
    }
    PreCopyModel.Forecast closest = null;
    if (canThrottle && maxThrottle > now) {
      PreCopyModel.Forecast slow = null;
      for (int t = now + 1; t <= maxThrottle; t++) {
        PreCopyModel.Forecast f = model.forecast(remaining, t, limit, budget);
        if (f.converges()) {
          if (f.rounds() <= maxRounds) {
            return throttleOrPostCopy(p, model, current, f);
          }
          if (slow == null) {
            slow = f;
          }
        } else if (closest == null || f.downtimeSeconds() < closest.downtimeSeconds()) {
          closest = f;
        }
      }
      if (slow != null) {
        return throttleOrPostCopy(p, model, current, slow);
      }
    }
    if (allowPostCopy && p.postCopyAvailable()) {
      return Decision.of("predictive: " + describe(model, p) + "; " + current + (canThrottle
          ? "; no throttle up to " + maxThrottle + " % meets the limit" : "; the vCPUs cannot be throttled")
          + "; switching to post-copy", new PolicyAction.SwitchToPostCopy());
    }
    // Nothing the model knows of meets the limit, yet a higher throttle comes clearly closer (by a
    // tenth at least: not when the pause is all overhead) than the one in force, which is known not
    // to converge: take it, and let the next round's measurements tell. A guest
    // that slows less than linearly until the throttle is near its top (one that paces its writes
    // by the clock) converges this way; staying put only waits for the deadline.
    if (closest != null && closest.downtimeSeconds() < CLOSER * current.downtimeSeconds()) {
      return Decision.of("predictive: " + describe(model, p) + "; at " + now + " % it " + current
          + "; no throttle up to " + maxThrottle + " % meets the limit by the model, the closest: " + closest,
          new PolicyAction.SetThrottle(closest.throttle()));
    }
    return Decision.keepGoing();
  }

  /** The throttle plan {@code f}, or post-copy when that is possible and costs the guest less. */
  private Decision throttleOrPostCopy(Progress p, PreCopyModel model, PreCopyModel.Forecast current,
      PreCopyModel.Forecast f) {
    if (allowPostCopy && p.postCopyAvailable()) {
      double throttleCost = throttleCost(f);
      double postCopyCost = postCopyCost(p);
      if (postCopyCost < throttleCost) {
        return Decision.of(String.format(Locale.ROOT, "predictive: %s; throttle %d %% would cost the guest about "
            + "%.2f s of vCPU time, post-copy about %.2f s of waiting for pages; switching to post-copy",
            describe(model, p), f.throttle(), throttleCost, postCopyCost), new PolicyAction.SwitchToPostCopy());
      }
    }
    return throttle(p, model, current, f);
  }

  /**
   * What a throttle plan takes from each vCPU, in seconds: its share of vCPU time for as long as
   * the plan holds it (the unit of {@link dev.ferry.MigrationResult#guestSlowdown()}).
   */
  static double throttleCost(PreCopyModel.Forecast f) {
    return f.throttle() / 100.0 * f.totalSeconds();
  }

  /**
   * What switching to post-copy now would take from each vCPU, in seconds, at most: the wait until
   * the pages it keeps touching have arrived, the working set over the bandwidth (what remains
   * stands in for the working set until two rounds have measured it). Requested pages go ahead of
   * the background push, so the real wait is usually shorter.
   */
  static double postCopyCost(Progress p) {
    if (p.bandwidth().isUnlimited() || p.bandwidth().bytesPerSecond() == 0) {
      return 0;
    }
    long ws = p.workingSet().bytes() > 0 ? p.workingSet().bytes() : p.remaining().bytes();
    return (double) Math.min(ws, p.remaining().bytes()) / p.bandwidth().bytesPerSecond();
  }

  private Decision throttle(Progress p, PreCopyModel model, PreCopyModel.Forecast current, PreCopyModel.Forecast f) {
    return Decision.of("predictive: " + describe(model, p) + "; at " + p.throttlePercent() + " % it "
        + current + "; throttle " + f.throttle() + " %: " + f, new PolicyAction.SetThrottle(f.throttle()));
  }

  private static String describe(PreCopyModel m, Progress p) {
    double fixed = m.fixedPoint(p.throttlePercent());
    return String.format(Locale.ROOT, "dirty rate %s, working set %s, bandwidth %s, remaining %s, %s",
        Policies.mbps(p.dirtyRateBytesPerSecond()), Policies.mib(p.workingSet().bytes()),
        p.bandwidth().isUnlimited() ? "unlimited" : Policies.mbps(p.bandwidth().bytesPerSecond()),
        Policies.mib(p.remaining().bytes()),
        Double.isInfinite(fixed) ? "pre-copy diverges" : "levels off near " + Policies.mib(fixed));
  }

  private static Duration scale(Duration d, double factor) {
    return PreCopyModel.duration(PreCopyModel.seconds(d) * factor);
  }

  @Override
  public String toString() {
    return "predictive" + (allowPostCopy ? "" : "(no post-copy)") + (maxThrottle == 99 ? "" : "(max throttle "
        + maxThrottle + "%)");
  }
}
