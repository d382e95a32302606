package dev.ferry.policy;

import dev.ferry.Progress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * OpenStack Nova's live-migration policy (nova/conf/libvirt.py, nova/virt/libvirt/migration.py):
 * raise the downtime limit in steps on a schedule scaled by the guest's size, and give up (or force
 * completion) after a completion timeout scaled the same way.
 *
 * <p>The schedule is Nova's {@code downtime_steps}: with {@code data} = the guest's memory in GiB,
 * counted as at least 2 GiB, step {@code i} (0 to {@code steps}) begins at
 * {@code i × delayPerGiB × data} and sets the limit to {@code base + i × (downtime − base) / steps}
 * with {@code base = downtime / steps} (integer milliseconds, as Nova computes them). For an 8 GiB
 * guest with Nova's defaults: 50 ms at first, +45 ms every 600 s, 500 ms at 6,000 s.
 *
 * <p>Defaults: {@code live_migration_downtime} 500 ms in Nova; here {@link Duration#ZERO}, meaning
 * the migration's max downtime ({@link Progress#maxDowntime()}), because the engine never raises the
 * limit above that ceiling (set {@code MigrationOptions.maxDowntime(500 ms)} to reproduce Nova
 * exactly). {@code live_migration_downtime_steps} 10, {@code live_migration_downtime_delay} 75 s
 * per GiB, {@code live_migration_completion_timeout} 800 s per GiB (0 disables it),
 * {@code live_migration_timeout_action} abort, {@code live_migration_permit_post_copy} and
 * {@code live_migration_permit_auto_converge} false. With post-copy permitted, Nova switches to it
 * once an iteration after the first reduces the remaining data by less than 10 %
 * ({@link Progress#stalledRounds()} ≥ 1) and on a forced completion; auto-converge (QEMU's, see
 * {@link AutoConverge}) is used only when post-copy is not permitted, as in Nova. Nova's deprecated
 * progress timeout is not reproduced (it caused false timeouts).
 *
 * <p>At the last chance before the migration's own deadline, the timeout action applies too.
 * Created by {@link ConvergencePolicy#novaSteps()}. Immutable and thread-safe.
 *
 * @param downtime the last step's limit; {@link Duration#ZERO} for the migration's max downtime
 * @param steps number of steps after the first, at least 1 (Nova: at least 3)
 * @param delayPerGiB time between steps per GiB of guest memory (Nova: at least 3 s)
 * @param completionTimeoutPerGiB time allowed per GiB before the timeout action;
 *     {@link Duration#ZERO} disables it
 * @param timeoutAction abort, or force completion (post-copy if permitted, else pause)
 * @param permitPostCopy whether to switch to post-copy when an iteration makes less than 10 % progress
 * @param permitAutoConverge whether to throttle the vCPUs the way QEMU's auto-converge does (only
 *     when post-copy is not permitted)
 */
public record NovaSteps(Duration downtime, int steps, Duration delayPerGiB, Duration completionTimeoutPerGiB,
    TimeoutAction timeoutAction, boolean permitPostCopy, boolean permitAutoConverge) implements ConvergencePolicy {
  /** Nova's {@code live_migration_downtime}. */
  public static final Duration NOVA_DOWNTIME = Duration.ofMillis(500);
  /** Nova's {@code live_migration_downtime_steps}. */
  public static final int NOVA_STEPS = 10;
  /** Nova's {@code live_migration_downtime_delay}, per GiB. */
  public static final Duration NOVA_DELAY_PER_GIB = Duration.ofSeconds(75);
  /** Nova's {@code live_migration_completion_timeout}, per GiB. */
  public static final Duration NOVA_COMPLETION_TIMEOUT_PER_GIB = Duration.ofSeconds(800);
  /** Nova counts a guest as at least this many GiB. */
  public static final double MIN_GIB = 2.0;

  private static final AutoConverge QEMU_AUTO_CONVERGE = new AutoConverge(AutoConverge.QEMU_INITIAL,
      AutoConverge.QEMU_INCREMENT, AutoConverge.QEMU_MAX, AutoConverge.QEMU_THRESHOLD);

  public NovaSteps {
    Policies.positiveOrZero(downtime, "downtime");
    if (steps < 1) {
      throw new IllegalArgumentException("downtime steps must be at least 1: " + steps);
    }
    Policies.positiveOrZero(delayPerGiB, "delay per GiB");
    Policies.positiveOrZero(completionTimeoutPerGiB, "completion timeout per GiB");
    Objects.requireNonNull(timeoutAction, "timeoutAction");
  }

  /** The same policy with another completion timeout per GiB and action. */
  public NovaSteps withCompletionTimeout(Duration perGiB, TimeoutAction action) {
    return new NovaSteps(downtime, steps, delayPerGiB, perGiB, action, permitPostCopy, permitAutoConverge);
  }

  /** The same policy with post-copy and auto-converge permitted or not. */
  public NovaSteps withPermits(boolean postCopy, boolean autoConverge) {
    return new NovaSteps(downtime, steps, delayPerGiB, completionTimeoutPerGiB, timeoutAction, postCopy, autoConverge);
  }

  /** The data size Nova scales its delays with: the guest's memory in GiB, at least 2. */
  public static double dataGib(Progress p) {
    return Math.max(MIN_GIB, Policies.gib(p));
  }

  /** The downtime limit Nova's schedule sets at this point (capped at the migration's max downtime). */
  public Duration limitAt(Progress p) {
    long ceiling = (downtime.isZero() ? p.maxDowntime() : downtime).toMillis();
    long base = ceiling / steps;
    long offset = (ceiling - base) / steps;
    double delay = PreCopyModel.seconds(delayPerGiB) * dataGib(p);
    long step = delay <= 0 ? steps : (long) Math.floor(PreCopyModel.seconds(p.elapsed()) / delay);
    step = Math.max(0, Math.min(steps, step));
    Duration limit = Duration.ofMillis(Math.max(1, base + offset * step));
    return limit.compareTo(p.maxDowntime()) > 0 ? p.maxDowntime() : limit;
  }

  /** When the completion timeout fires for this guest; {@link Duration#ZERO} when disabled. */
  public Duration completionTimeout(Progress p) {
    return completionTimeoutPerGiB.isZero() ? Duration.ZERO : Policies.scaled(completionTimeoutPerGiB, dataGib(p));
  }

  @Override
  public Decision decide(Progress p) {
    Decision end = Policies.atDeadline(p, timeoutAction, permitPostCopy, "nova");
    if (!end.isEmpty()) {
      return end;
    }
    Duration timeout = completionTimeout(p);
    if (!timeout.isZero() && p.elapsed().compareTo(timeout) > 0) {
      return Policies.timeout(p, timeoutAction, permitPostCopy, "nova: completion timeout of "
          + timeout.toSeconds() + " s (" + completionTimeoutPerGiB.toSeconds() + " s per GiB) passed");
    }
    if (permitPostCopy && p.postCopyAvailable() && p.round() >= 1 && p.stalledRounds() >= 1) {
      return Decision.of("nova: the last iteration reduced the remaining data by less than 10 %; switching to "
          + "post-copy", new PolicyAction.SwitchToPostCopy());
    }
    List<PolicyAction> actions = new ArrayList<>();
    List<String> why = new ArrayList<>();
    Duration limit = limitAt(p);
    if (!limit.equals(p.downtimeLimit())) {
      actions.add(new PolicyAction.SetDowntimeLimit(limit));
      why.add("nova: downtime step to " + limit.toMillis() + " ms at " + p.elapsed().toSeconds() + " s");
    }
    if (permitAutoConverge && !permitPostCopy) {
      Decision step = QEMU_AUTO_CONVERGE.step(p);
      actions.addAll(step.actions());
      if (!step.isEmpty()) {
        why.add(step.reason());
      }
    }
    return actions.isEmpty() ? Decision.keepGoing() : new Decision(actions, String.join("; ", why));
  }

  @Override
  public String toString() {
    return "novaSteps(" + (downtime.isZero() ? "max downtime" : downtime.toMillis() + "ms") + ", " + steps
        + " steps, " + delayPerGiB.toSeconds() + "s/GiB" + (permitPostCopy ? ", post-copy" : "")
        + (permitAutoConverge ? ", auto-converge" : "") + ")";
  }
}
