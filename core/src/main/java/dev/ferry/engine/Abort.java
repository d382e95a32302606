package dev.ferry.engine;

import dev.ferry.MigrationException;
import dev.ferry.MigrationResult.Outcome;

/**
 * Unwinds a source migration to its end with an outcome and a cause. Thrown only while the source
 * is authoritative or while the commit's fate is being settled: what it leads to is decided by the
 * {@link Authority}'s state when it is caught, not by whoever threw it.
 */
final class Abort extends RuntimeException {
  private static final long serialVersionUID = 1L;
  final Outcome outcome;
  final transient MigrationException cause;

  Abort(Outcome outcome, MigrationException cause) {
    super(cause.getMessage(), null, false, false);
    this.outcome = outcome;
    this.cause = cause;
  }
}
