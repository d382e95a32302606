package dev.ferry.policy;

import dev.ferry.Progress;
import java.time.Duration;

/**
 * Switches to post-copy once pre-copy has stopped making progress for {@code stalledRounds} rounds
 * ({@link Progress#stalledRounds()}, from round 1 on), or once {@code after} has passed since the
 * migration started, whichever comes first.
 *
 * <p>Defaults reproduce OpenStack Nova with {@code live_migration_permit_post_copy = True}
 * (nova/virt/libvirt/migration.py, {@code should_switch_to_postcopy}): from the second memory
 * iteration on, switch as soon as an iteration reduces the remaining data by less than 10 %:
 * one stalled round, no time limit. KubeVirt's {@code allowPostCopy} switches at its completion
 * timeout instead: {@code postCopyAfter(0, timeout)} (or {@link KubevirtTimeouts}).
 *
 * <p>Falls through (keeps going) while {@link Progress#postCopyAvailable()} is false, so that a
 * later policy in {@link ConvergencePolicy#firstOf} takes over. At the last chance before the
 * deadline it aborts. Created by {@link ConvergencePolicy#postCopyAfter}. Immutable and
 * thread-safe.
 *
 * @param stalledRounds rounds without progress before switching; 0 for no such condition
 * @param after time since the start before switching; {@link Duration#ZERO} for no such condition
 */
public record PostCopyAfter(int stalledRounds, Duration after) implements ConvergencePolicy {

  public PostCopyAfter {
    if (stalledRounds < 0) {
      throw new IllegalArgumentException("stalled rounds must not be negative: " + stalledRounds);
    }
    Policies.positiveOrZero(after, "time before post-copy");
    if (stalledRounds == 0 && after.isZero()) {
      throw new IllegalArgumentException("post-copy needs a condition: stalled rounds or a time");
    }
  }

  @Override
  public Decision decide(Progress p) {
    Decision end = Policies.atDeadline(p, TimeoutAction.ABORT, false, "post-copy after");
    if (!end.isEmpty()) {
      return end;
    }
    if (!p.postCopyAvailable()) {
      return Decision.keepGoing();
    }
    if (stalledRounds > 0 && p.round() >= 1 && p.stalledRounds() >= stalledRounds) {
      return Decision.of("no progress in " + p.stalledRounds() + " round(s) (remaining " + p.remaining()
          + "); switching to post-copy", new PolicyAction.SwitchToPostCopy());
    }
    if (!after.isZero() && p.elapsed().compareTo(after) >= 0) {
      return Decision.of("pre-copy has run " + p.elapsed().toMillis() + " ms (post-copy after " + after.toMillis()
          + " ms); switching to post-copy", new PolicyAction.SwitchToPostCopy());
    }
    return Decision.keepGoing();
  }

  @Override
  public String toString() {
    return "postCopyAfter(" + (stalledRounds > 0 ? stalledRounds + " stalled round(s)" : "")
        + (stalledRounds > 0 && !after.isZero() ? " or " : "") + (after.isZero() ? "" : after.toMillis() + "ms") + ")";
  }
}
