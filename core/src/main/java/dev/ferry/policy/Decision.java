package dev.ferry.policy;

import java.util.List;
import java.util.Objects;

/**
 * A policy's answer to one progress sample: the actions to take (none means "keep iterating")
 * and why, in words that end up in the migration's events.
 */
public record Decision(List<PolicyAction> actions, String reason) {
  private static final Decision CONTINUE = new Decision(List.of(), "");

  public Decision {
    actions = List.copyOf(actions);
    Objects.requireNonNull(reason, "reason");
  }

  /** Keep iterating; nothing to change. */
  public static Decision keepGoing() {
    return CONTINUE;
  }

  /** Take these actions, for this reason. */
  public static Decision of(String reason, PolicyAction... actions) {
    return new Decision(List.of(actions), reason);
  }

  /** Whether the decision changes nothing. */
  public boolean isEmpty() {
    return actions.isEmpty();
  }
}
