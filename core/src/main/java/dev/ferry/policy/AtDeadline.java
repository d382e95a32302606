package dev.ferry.policy;

import dev.ferry.Progress;

/**
 * Does nothing until the last chance before the deadline ({@link Progress#lastChance()}), then
 * ends the migration with {@code action}. Put first in {@link ConvergencePolicy#firstOf} to choose
 * what happens at the deadline for a whole composition. Created by
 * {@link ConvergencePolicy#abortAtDeadline()} and {@link ConvergencePolicy#forceAtDeadline()}.
 *
 * <p>Immutable and thread-safe.
 *
 * @param action abort, or force completion
 * @param permitPostCopy whether forcing may switch to post-copy (when the engine offers it) rather
 *     than pause
 */
public record AtDeadline(TimeoutAction action, boolean permitPostCopy) implements ConvergencePolicy {

  public AtDeadline {
    java.util.Objects.requireNonNull(action, "action");
  }

  @Override
  public Decision decide(Progress p) {
    return Policies.atDeadline(p, action, permitPostCopy, toString());
  }

  @Override
  public String toString() {
    return action == TimeoutAction.ABORT ? "abortAtDeadline" : "forceAtDeadline";
  }
}
