package dev.ferry;

/**
 * The convergence policy gave up: the guest dirtied memory faster than it could be moved within the
 * deadline and downtime budget. The VM keeps running on the source. Allow more downtime, a longer
 * deadline, more bandwidth, or a policy that throttles or switches to post-copy.
 */
public class ConvergenceException extends MigrationException {
  private static final long serialVersionUID = 1L;

  public ConvergenceException(String message) {
    super(message);
  }
}
