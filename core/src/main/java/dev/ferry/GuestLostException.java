package dev.ferry;

/**
 * Post-copy could not finish: the guest ran on the destination, and the link to the source stayed
 * down longer than the recovery timeout while some of its pages had not arrived. The destination's
 * incomplete copy is stopped and the source's stale copy is kept paused, never resumed. The guest
 * must be restored from the application's own means (a snapshot, a restart).
 */
public class GuestLostException extends MigrationException {
  private static final long serialVersionUID = 1L;
  private final long missingPages;
  private final long[] firstMissing;

  public GuestLostException(String message, long missingPages, long[] firstMissing) {
    super(message);
    this.missingPages = missingPages;
    this.firstMissing = firstMissing.clone();
  }

  /** How many pages had not reached the destination. */
  public long missingPages() {
    return missingPages;
  }

  /** The lowest of those page numbers (at most 64 of them). */
  public long[] firstMissing() {
    return firstMissing.clone();
  }
}
