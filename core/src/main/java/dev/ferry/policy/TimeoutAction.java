package dev.ferry.policy;

/**
 * What a policy does when time runs out (its own timeout, or the migration's deadline).
 */
public enum TimeoutAction {
  /** Roll back: the guest keeps running on the source, the destination discards its copy. */
  ABORT,
  /**
   * Finish now whatever it costs: switch to post-copy when the policy permits it and the engine
   * offers it, otherwise pause the guest and copy the rest (a longer downtime, but it ends).
   * Nova's {@code live_migration_timeout_action = force_complete}.
   */
  FORCE_COMPLETE
}
