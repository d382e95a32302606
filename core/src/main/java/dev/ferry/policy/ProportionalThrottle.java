package dev.ferry.policy;

import dev.ferry.Progress;
import java.util.Locale;

/**
 * Throttles the vCPUs in proportion to how far the dirty rate exceeds a target fraction of the
 * bandwidth, in one step rather than in fixed increments: the throttle becomes
 * {@code 100 − (100 − current) × target × bandwidth / dirtyRate}, rounded up, so that the guest's
 * dirty rate falls to about {@code target × bandwidth}. This is the idea behind VMware vMotion's
 * Stun During Page Send (vSphere 5.0: slow the vCPUs while the dirty rate exceeds the send rate)
 * and QEMU's dirty-limit (cap each vCPU's dirty rate; {@code vcpu-dirty-limit} 1 MB/s by default),
 * with the cap set from the measured bandwidth rather than fixed.
 *
 * <p>Defaults: target 0.5 (dirty at most half as fast as the link sends, so each round at least
 * halves the rest), max 99 %. Only raises the throttle. Falls through when the dirty rate is
 * already under the target (what is left is a working set a throttle of this kind does not fix),
 * when the throttle is at {@code max}, or when the backend cannot throttle. At the last chance
 * before the deadline it aborts. Created by {@link ConvergencePolicy#proportionalThrottle()}.
 * Immutable and thread-safe.
 *
 * @param target dirty rate / bandwidth to aim for, in (0, 1)
 * @param max the highest throttle, 1 to 99 %
 */
public record ProportionalThrottle(double target, int max) implements ConvergencePolicy {

  public ProportionalThrottle {
    if (!(target > 0 && target < 1)) {
      throw new IllegalArgumentException("target dirty rate / bandwidth must be in (0, 1): " + target);
    }
    if (max < 1 || max > 99) {
      throw new IllegalArgumentException("max throttle must be 1 to 99 %: " + max);
    }
  }

  @Override
  public Decision decide(Progress p) {
    Decision end = Policies.atDeadline(p, TimeoutAction.ABORT, false, "proportional throttle");
    if (!end.isEmpty()) {
      return end;
    }
    if (!p.throttleAvailable() || p.bandwidth().isUnlimited() || p.throttlePercent() >= max) {
      return Decision.keepGoing();
    }
    double dirty = p.dirtyRateBytesPerSecond();
    double goal = target * p.bandwidth().bytesPerSecond();
    if (dirty <= goal) {
      return Decision.keepGoing();
    }
    int now = p.throttlePercent();
    int next = (int) Math.ceil(100 - (100 - now) * goal / dirty);
    next = Math.min(max, next);
    if (next <= now) {
      return Decision.keepGoing();
    }
    return Decision.of(String.format(Locale.ROOT,
        "proportional throttle: dirty rate %s over %.0f %% of the bandwidth %s; throttle %d %% -> %d %%",
        Policies.mbps(dirty), target * 100, Policies.mbps(p.bandwidth().bytesPerSecond()), now, next),
        new PolicyAction.SetThrottle(next));
  }

  @Override
  public String toString() {
    return String.format(Locale.ROOT, "proportionalThrottle(%.2f)", target);
  }
}
