/**
 * Convergence policies: what the engine does when pre-copy is not converging on its own.
 *
 * <p>A {@link dev.ferry.policy.ConvergencePolicy} sees each round's {@link dev.ferry.Progress} and
 * answers with a {@link dev.ferry.policy.Decision}: zero or more
 * {@link dev.ferry.policy.PolicyAction}s and the reason for them. Policies are pure functions of
 * the progress they are shown, so they can be tested on recorded or synthetic traces without a VM.
 */
package dev.ferry.policy;
