package dev.ferry.policy;

import dev.ferry.Progress;

/** See {@link ConvergencePolicy#untilDeadline()}. */
enum UntilDeadline implements ConvergencePolicy {
  INSTANCE;

  @Override
  public Decision decide(Progress p) {
    if (p.pastDeadline()) {
      return Decision.of(
          "deadline of " + p.deadline().toMillis() + " ms passed after " + p.round()
              + " rounds with an expected downtime of " + p.expectedDowntime().toMillis()
              + " ms over the limit of " + p.downtimeLimit().toMillis() + " ms",
          new PolicyAction.Abort("deadline passed before pre-copy converged"));
    }
    return Decision.keepGoing();
  }

  @Override
  public String toString() {
    return "untilDeadline";
  }
}
