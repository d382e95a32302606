package dev.ferry;

/** The migration was cancelled by {@link MigrationSession#cancel()}; the VM runs on the source. */
public class MigrationCancelledException extends MigrationException {
  private static final long serialVersionUID = 1L;

  public MigrationCancelledException(String message) {
    super(message);
  }
}
