package dev.ferry.policy;

import dev.ferry.Progress;
import java.time.Duration;
import java.util.Locale;

/** Helpers shared by the built-in policies. */
final class Policies {
  private Policies() {}

  /**
   * The decision at the deadline: abort, or force completion (post-copy first when permitted and
   * offered), before the deadline passes. Empty when it is not yet the last chance.
   */
  static Decision atDeadline(Progress p, TimeoutAction action, boolean permitPostCopy, String who) {
    if (!p.lastChance()) {
      return Decision.keepGoing();
    }
    String why = who + ": " + deadlineReason(p) + "; expected downtime " + ms(p.expectedDowntime()) + " ms, limit "
        + ms(p.downtimeLimit()) + " ms";
    return timeout(p, action, permitPostCopy, why);
  }

  /**
   * Why {@link Progress#lastChance()} holds, in words that are true of {@code p}: the deadline has
   * passed, or it has not yet and one more round with the stop-and-copy after it would end past it.
   * The round is the one under way ({@link Progress#round()}, 0 the first full pass).
   */
  static String deadlineReason(Progress p) {
    if (p.pastDeadline()) {
      return "deadline of " + ms(p.deadline()) + " ms reached after " + ms(p.elapsed()) + " ms, in round "
          + p.round();
    }
    return "no further round fits before the deadline of " + ms(p.deadline()) + " ms (at " + ms(p.elapsed())
        + " ms, in round " + p.round() + ": sending the " + mib(p.remaining().bytes()) + " remaining at "
        + mbps(p.bandwidth().bytesPerSecond()) + " and then stopping to copy would end past it)";
  }

  /** The decision a timeout with this action calls for. */
  static Decision timeout(Progress p, TimeoutAction action, boolean permitPostCopy, String why) {
    if (action == TimeoutAction.FORCE_COMPLETE) {
      if (permitPostCopy && p.postCopyAvailable()) {
        return Decision.of(why + "; switching to post-copy", new PolicyAction.SwitchToPostCopy());
      }
      if (!p.hasDeadline() || p.elapsed().plus(p.expectedDowntime()).compareTo(p.deadline()) <= 0) {
        return Decision.of(why + "; forcing completion", new PolicyAction.ForceCompletion());
      }
      why += "; forcing completion now would pause the guest past the deadline";
    }
    return Decision.of(why + "; aborting", new PolicyAction.Abort(why));
  }

  static long ms(Duration d) {
    return d.compareTo(Duration.ofDays(1_000_000)) > 0 ? Long.MAX_VALUE : d.toMillis();
  }

  static String mib(double bytes) {
    return String.format(Locale.ROOT, "%.1f MiB", bytes / (1 << 20));
  }

  static String mbps(double bytesPerSecond) {
    return String.format(Locale.ROOT, "%.1f MB/s", bytesPerSecond / 1e6);
  }

  /** The guest's memory in GiB, as a fraction. */
  static double gib(Progress p) {
    return p.total().bytes() / (double) (1L << 30);
  }

  static Duration scaled(Duration perGiB, double gib) {
    return PreCopyModel.duration(PreCopyModel.seconds(perGiB) * gib);
  }

  static Duration positiveOrZero(Duration d, String what) {
    if (d == null || d.isNegative()) {
      throw new IllegalArgumentException(what + " must be zero or positive: " + d);
    }
    return d;
  }

  static int percent(int p, String what) {
    if (p < 0 || p > 99) {
      throw new IllegalArgumentException(what + " must be 0 to 99 %: " + p);
    }
    return p;
  }
}
