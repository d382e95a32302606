package dev.ferry.cli;

import dev.ferry.MigrationResult.Outcome;

/**
 * The ferry command's exit codes: one per migration outcome, and those of a command that did not get
 * as far as an outcome. {@link FerryCommand}'s help lists them; keep the two in step (a test
 * compares them).
 */
public final class ExitCodes {
  /** The migration completed (or the command, not a migration, succeeded). */
  public static final int OK = 0;
  /** An error before any outcome: a host that cannot be reached, a VM that is not there, a refusal. */
  public static final int ERROR = 1;
  /** The command line was wrong (picocli's own usage code). */
  public static final int USAGE = 2;

  private ExitCodes() {}

  /** The exit code of a migration that ended with {@code outcome}. */
  public static int of(Outcome outcome) {
    switch (outcome) {
      case COMPLETED:
        return OK;
      case ROLLED_BACK:
        return 3;
      case CANCELLED:
        return 4;
      case FAILED:
        return 5;
      case IN_DOUBT:
        return 6;
      case DESTINATION_FAILED:
        return 7;
      case GUEST_LOST:
        return 8;
      default:
        throw new AssertionError(outcome);
    }
  }
}
