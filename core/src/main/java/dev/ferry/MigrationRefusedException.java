package dev.ferry;

/**
 * A migration cannot start: the VM cannot be migrated by any data plane its backend offers, the
 * options ask for something the backend lacks, or the request is inconsistent. Nothing was moved;
 * the VM runs on the source as before. Fix the request rather than retrying it.
 */
public class MigrationRefusedException extends FerryException {
  private static final long serialVersionUID = 1L;

  public MigrationRefusedException(String message) {
    super(message);
  }
}
