package dev.ferry.policy;

import dev.ferry.Progress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Decides what the engine does when pre-copy has not yet brought the expected downtime under the
 * limit. The engine moves to stop-and-copy on its own as soon as the expected downtime fits; it
 * asks the policy after every round that does not, and applies the actions of its
 * {@link Decision} in order: set the downtime limit (never above the migration's max downtime),
 * set the bandwidth, throttle the vCPUs, switch to post-copy (refused, with the reason in the
 * migration's events, while {@link Progress#postCopyAvailable()} is false), force completion, or
 * abort. When the deadline has passed and the policy ends nothing, the engine aborts.
 *
 * <p>A policy must be a pure, deterministic function of the {@link Progress} it is shown (its
 * configuration aside): the same sample always gives the same decision. History it needs comes
 * from the sample ({@link Progress#stalledRounds()}, {@link Progress#sinceProgress()},
 * {@link Progress#throttlePercent()}, {@link Progress#downtimeLimit()}). That makes it testable on
 * traces and safe to share between sessions and threads.
 *
 * <p>Built-in policies, each named after what it reproduces (their Javadoc gives the defaults and
 * where they come from): {@link #fixedDowntime()} (QEMU), {@link #novaSteps()} (OpenStack Nova),
 * {@link #autoConverge()} (QEMU), {@link #proportionalThrottle()} (vMotion's SDPS, QEMU's
 * dirty-limit), {@link #postCopyAfter} (Nova, KubeVirt), {@link #kubevirtTimeouts()} (KubeVirt),
 * and {@link #predictive()}, the default. Every built-in aborts at the last chance before the
 * deadline ({@link Progress#lastChance()}) unless configured to force completion. They compose with
 * {@link #firstOf} / {@link #then}: the first policy that decides something decides, and one that
 * has nothing to do falls through to the next. For example, Nova's steps, then auto-converge, then
 * post-copy, forcing completion at the deadline:
 * <pre>{@code
 * ConvergencePolicy.firstOf(ConvergencePolicy.forceAtDeadline(), ConvergencePolicy.novaSteps(),
 *     ConvergencePolicy.autoConverge(), ConvergencePolicy.postCopyAfter(1, Duration.ZERO))
 * }</pre>
 */
@FunctionalInterface
public interface ConvergencePolicy {

  /** The decision for this sample. Never null; {@link Decision#keepGoing()} to change nothing. */
  Decision decide(Progress progress);

  /** This policy first; when it keeps going, {@code next}. Same as {@code firstOf(this, next)}. */
  default ConvergencePolicy then(ConvergencePolicy next) {
    List<ConvergencePolicy> all = new ArrayList<>();
    if (this instanceof FirstOf f) {
      all.addAll(f.policies());
    } else {
      all.add(this);
    }
    all.add(next);
    return new FirstOf(all);
  }

  /** Asks the policies in order; the first that decides something decides. */
  static ConvergencePolicy firstOf(ConvergencePolicy... policies) {
    return new FirstOf(List.of(policies));
  }

  /**
   * The default: predict where pre-copy ends and go at once to the cheapest step that meets the
   * limit and the deadline (see {@link Predictive}).
   */
  static Predictive predictive() {
    return Predictive.defaults();
  }

  /** QEMU's default behaviour: keep the limit (300 ms by default) and iterate; abort at the deadline. */
  static FixedDowntime fixedDowntime() {
    return new FixedDowntime(Duration.ZERO);
  }

  /** {@link #fixedDowntime()} with this limit (at most the migration's max downtime). */
  static FixedDowntime fixedDowntime(Duration limit) {
    return new FixedDowntime(limit);
  }

  /** OpenStack Nova's downtime steps and completion timeout, with Nova's defaults (see {@link NovaSteps}). */
  static NovaSteps novaSteps() {
    return new NovaSteps(Duration.ZERO, NovaSteps.NOVA_STEPS, NovaSteps.NOVA_DELAY_PER_GIB,
        NovaSteps.NOVA_COMPLETION_TIMEOUT_PER_GIB, TimeoutAction.ABORT, false, false);
  }

  /**
   * Nova's downtime steps with these settings.
   *
   * @param downtime the last step's limit ({@link Duration#ZERO}: the migration's max downtime)
   * @param steps {@code live_migration_downtime_steps}
   * @param delayPerGiB {@code live_migration_downtime_delay}
   */
  static NovaSteps novaSteps(Duration downtime, int steps, Duration delayPerGiB) {
    return new NovaSteps(downtime, steps, delayPerGiB, NovaSteps.NOVA_COMPLETION_TIMEOUT_PER_GIB,
        TimeoutAction.ABORT, false, false);
  }

  /** QEMU's auto-converge with QEMU's defaults: 20 %, +10 % per round over the threshold, up to 99 %. */
  static AutoConverge autoConverge() {
    return new AutoConverge(AutoConverge.QEMU_INITIAL, AutoConverge.QEMU_INCREMENT, AutoConverge.QEMU_MAX,
        AutoConverge.QEMU_THRESHOLD);
  }

  /** Auto-converge starting at {@code initial} % and adding {@code increment} %, up to 99 %. */
  static AutoConverge autoConverge(int initial, int increment) {
    return new AutoConverge(initial, increment, AutoConverge.QEMU_MAX, AutoConverge.QEMU_THRESHOLD);
  }

  /** A throttle that brings the dirty rate to half the bandwidth in one step (see {@link ProportionalThrottle}). */
  static ProportionalThrottle proportionalThrottle() {
    return new ProportionalThrottle(0.5, 99);
  }

  /** A throttle that brings the dirty rate to {@code target} × the bandwidth. */
  static ProportionalThrottle proportionalThrottle(double target) {
    return new ProportionalThrottle(target, 99);
  }

  /**
   * Switch to post-copy after {@code stalledRounds} rounds without progress (0: no such condition)
   * or after {@code after} ({@link Duration#ZERO}: no such condition); falls through while the
   * engine offers no post-copy. Nova's rule is {@code postCopyAfter(1, Duration.ZERO)}.
   */
  static PostCopyAfter postCopyAfter(int stalledRounds, Duration after) {
    return new PostCopyAfter(stalledRounds, after);
  }

  /** KubeVirt's completion timeout per GiB (150 s) and progress timeout (150 s), no post-copy. */
  static KubevirtTimeouts kubevirtTimeouts() {
    return new KubevirtTimeouts(KubevirtTimeouts.KUBEVIRT_COMPLETION_TIMEOUT_PER_GIB,
        KubevirtTimeouts.KUBEVIRT_PROGRESS_TIMEOUT, false, false);
  }

  /** KubeVirt's timeouts with these settings. */
  static KubevirtTimeouts kubevirtTimeouts(Duration completionTimeoutPerGiB, Duration progressTimeout,
      boolean allowPostCopy) {
    return new KubevirtTimeouts(completionTimeoutPerGiB, progressTimeout, allowPostCopy, false);
  }

  /** Nothing until the last chance before the deadline, then abort. */
  static AtDeadline abortAtDeadline() {
    return new AtDeadline(TimeoutAction.ABORT, false);
  }

  /** Nothing until the last chance before the deadline, then pause and finish (a longer downtime, but it ends). */
  static AtDeadline forceAtDeadline() {
    return new AtDeadline(TimeoutAction.FORCE_COMPLETE, false);
  }

  /**
   * Iterate until the expected downtime fits the limit; at the last chance before the deadline,
   * abort and leave the guest running on the source. The same as {@link #fixedDowntime()}.
   */
  static ConvergencePolicy untilDeadline() {
    return UntilDeadline.INSTANCE;
  }

  /** Every built-in policy with its defaults, by name, in a stable order (for tables and tests). */
  static java.util.Map<String, ConvergencePolicy> builtIns() {
    java.util.Map<String, ConvergencePolicy> m = new java.util.LinkedHashMap<>();
    m.put("fixed-downtime", fixedDowntime());
    m.put("nova-steps", novaSteps());
    m.put("auto-converge", autoConverge());
    m.put("proportional", proportionalThrottle());
    m.put("post-copy-after", postCopyAfter(1, Duration.ZERO));
    m.put("kubevirt", kubevirtTimeouts());
    m.put("predictive", predictive());
    return java.util.Collections.unmodifiableMap(m);
  }
}
