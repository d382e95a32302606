package dev.ferry;

import java.time.Duration;
import java.util.Objects;

/**
 * An incoming migration that ended on a {@link MigrationReceiver}. Immutable.
 *
 * @param vmName the VM's name, as the source described it
 * @param outcome how it ended here
 * @param detail why, in words (empty when it arrived)
 * @param duration from the source's HELLO to the end
 */
public record ReceivedMigration(String vmName, Outcome outcome, String detail, Duration duration) {
  public ReceivedMigration {
    Objects.requireNonNull(vmName, "vmName");
    Objects.requireNonNull(outcome, "outcome");
    Objects.requireNonNull(detail, "detail");
    Objects.requireNonNull(duration, "duration");
  }

  /** How an incoming migration ended on the destination. */
  public enum Outcome {
    /** The guest runs here and all its memory has arrived (post-copy included). */
    ARRIVED,
    /** The migration failed or was cancelled before the guest ran here; nothing is left here. */
    DISCARDED,
    /** The guest ran here in post-copy and lost its source before every page arrived; it is stopped. */
    LOST
  }
}
