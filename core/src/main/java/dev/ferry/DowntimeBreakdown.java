package dev.ferry;

import java.time.Duration;
import java.util.Objects;

/**
 * Where a stop-and-copy's downtime went, each part measured on the source's clock in the order the
 * parts happen. The parts add up to {@link MigrationResult#downtime()}. Immutable.
 *
 * @param pause stopping the vCPUs
 * @param finalSync the last sync of the dirty log
 * @param finalPages sending the pages dirtied since the last round
 * @param deviceState saving and sending the device state
 * @param confirmation from the device state's last byte until the destination says it holds
 *     everything (its wait for every stream, and the memory check when verifying)
 * @param verification the part of the confirmation the source spent checking memory, if it did
 * @param commit the COMMIT's round trip, activation excluded
 * @param activation the destination's own time from COMMIT to the guest running, as it reports it
 */
public record DowntimeBreakdown(Duration pause, Duration finalSync, Duration finalPages, Duration deviceState,
    Duration confirmation, Duration verification, Duration commit, Duration activation) {

  public DowntimeBreakdown {
    Objects.requireNonNull(pause, "pause");
    Objects.requireNonNull(finalSync, "finalSync");
    Objects.requireNonNull(finalPages, "finalPages");
    Objects.requireNonNull(deviceState, "deviceState");
    Objects.requireNonNull(confirmation, "confirmation");
    Objects.requireNonNull(verification, "verification");
    Objects.requireNonNull(commit, "commit");
    Objects.requireNonNull(activation, "activation");
  }

  /** The sum of the parts (verification is inside the confirmation, so it is not added again). */
  public Duration total() {
    return pause.plus(finalSync).plus(finalPages).plus(deviceState).plus(confirmation).plus(commit).plus(activation);
  }
}
