package dev.ferry.policy;

import dev.ferry.Progress;

/**
 * Decides what the engine does when pre-copy has not yet brought the expected downtime under the
 * limit. The engine moves to stop-and-copy on its own as soon as the expected downtime fits; it
 * asks the policy after every round that does not.
 *
 * <p>A policy must be a pure, deterministic function of the {@link Progress} it is shown (its
 * configuration aside): the same sample always gives the same decision. That makes it testable
 * on traces and safe to share between sessions and threads.
 */
@FunctionalInterface
public interface ConvergencePolicy {

  /** The decision for this sample. Never null; {@link Decision#keepGoing()} to change nothing. */
  Decision decide(Progress progress);

  /**
   * Iterate until the expected downtime fits the limit; when the migration's deadline passes,
   * abort and leave the guest running on the source. This is the default policy.
   */
  static ConvergencePolicy untilDeadline() {
    return UntilDeadline.INSTANCE;
  }
}
