package dev.ferry;

/**
 * The destination refused the migration before any page moved: incompatible CPU, a VM of the same
 * name already there, a missing or wrong token, too many migrations at once. The VM keeps running
 * on the source. Choose another destination or fix the cause the message names.
 */
public class DestinationRefusedException extends MigrationException {
  private static final long serialVersionUID = 1L;

  public DestinationRefusedException(String message) {
    super(message);
  }
}
