package dev.ferry;

/**
 * Source and destination memory differed at switchover. The migration was rolled back and the
 * VM keeps running on the source. This is a defect in a backend or in Ferry: please report it.
 */
public class VerificationFailedException extends MigrationException {
  private static final long serialVersionUID = 1L;

  public VerificationFailedException(String message) {
    super(message);
  }
}
