package dev.ferry.policy;

import dev.ferry.Progress;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Asks each policy in order; the first that decides something decides. Fall-through is how
 * policies compose: a policy that has nothing to do (its step is done, or what it wants is not
 * available, such as post-copy before the engine offers it) keeps going, and the next one is asked.
 * Created by {@link ConvergencePolicy#firstOf} and {@link ConvergencePolicy#then}.
 *
 * <p>Immutable and thread-safe if its policies are.
 *
 * @param policies in order of precedence; at least one
 */
public record FirstOf(List<ConvergencePolicy> policies) implements ConvergencePolicy {

  public FirstOf {
    policies = List.copyOf(policies);
    if (policies.isEmpty()) {
      throw new IllegalArgumentException("firstOf needs at least one policy");
    }
  }

  @Override
  public Decision decide(Progress p) {
    for (ConvergencePolicy policy : policies) {
      Decision d = policy.decide(p);
      if (d == null) {
        throw new IllegalStateException("policy " + policy + " returned null");
      }
      if (!d.isEmpty()) {
        return d;
      }
    }
    return Decision.keepGoing();
  }

  @Override
  public String toString() {
    return policies.stream().map(Object::toString).collect(Collectors.joining(" then "));
  }
}
