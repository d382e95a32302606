package dev.ferry.policy;

import dev.ferry.Progress;

/** See {@link ConvergencePolicy#untilDeadline()}. */
enum UntilDeadline implements ConvergencePolicy {
  INSTANCE;

  @Override
  public Decision decide(Progress p) {
    return Policies.atDeadline(p, TimeoutAction.ABORT, false, "untilDeadline");
  }

  @Override
  public String toString() {
    return "untilDeadline";
  }
}
