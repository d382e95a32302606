package dev.ferry;

/**
 * Why a migration ended without moving the VM. Found in {@link MigrationResult#cause()}; the
 * result's outcome says where the VM runs. The subtypes say what to do about it.
 */
public class MigrationException extends FerryException {
  private static final long serialVersionUID = 1L;

  public MigrationException(String message) {
    super(message);
  }

  public MigrationException(String message, Throwable cause) {
    super(message, cause);
  }
}
