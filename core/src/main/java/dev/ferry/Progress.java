package dev.ferry;

import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import java.time.Duration;
import java.util.Objects;

/**
 * A consistent snapshot of a migration at one moment: every field was taken at the same time.
 * Convergence policies decide from a stream of these.
 *
 * @param phase the phase now
 * @param round the pre-copy round now (0 is the full first pass)
 * @param elapsed time since the migration started
 * @param total guest memory size
 * @param transferred guest memory sent so far, all rounds counted (a page sent twice counts twice)
 * @param remaining memory known dirty and not yet sent
 * @param dirtyRatePagesPerSecond pages the guest dirtied per second, measured over the last round
 * @param pageSize guest page size in bytes
 * @param workingSet estimate of the memory the guest rewrites over and over (the distinct pages
 *     dirtied in the last round)
 * @param bandwidth transfer rate achieved in the last round
 * @param expectedDowntime the pause the guest would see if stop-and-copy began now
 * @param downtimeLimit the largest pause allowed now
 * @param bandwidthLimit the bandwidth cap now ({@link Bandwidth#UNLIMITED} for none)
 * @param throttlePercent how much the vCPUs are slowed down now, 0 to 99
 * @param deadline how long the migration may take in all ({@link Duration#ZERO} for no deadline)
 */
public record Progress(
    Phase phase,
    long round,
    Duration elapsed,
    DataSize total,
    DataSize transferred,
    DataSize remaining,
    long dirtyRatePagesPerSecond,
    int pageSize,
    DataSize workingSet,
    Bandwidth bandwidth,
    Duration expectedDowntime,
    Duration downtimeLimit,
    Bandwidth bandwidthLimit,
    int throttlePercent,
    Duration deadline) {

  public Progress {
    Objects.requireNonNull(phase, "phase");
    Objects.requireNonNull(elapsed, "elapsed");
    Objects.requireNonNull(total, "total");
    Objects.requireNonNull(transferred, "transferred");
    Objects.requireNonNull(remaining, "remaining");
    Objects.requireNonNull(workingSet, "workingSet");
    Objects.requireNonNull(bandwidth, "bandwidth");
    Objects.requireNonNull(expectedDowntime, "expectedDowntime");
    Objects.requireNonNull(downtimeLimit, "downtimeLimit");
    Objects.requireNonNull(bandwidthLimit, "bandwidthLimit");
    Objects.requireNonNull(deadline, "deadline");
  }

  /** Bytes the guest dirties per second. */
  public long dirtyRateBytesPerSecond() {
    return dirtyRatePagesPerSecond * pageSize;
  }

  /** Whether stop-and-copy would fit the downtime limit if it began now. */
  public boolean fitsDowntime() {
    return expectedDowntime.compareTo(downtimeLimit) <= 0;
  }

  /** Whether a deadline is set and has passed. */
  public boolean pastDeadline() {
    return !deadline.isZero() && elapsed.compareTo(deadline) > 0;
  }
}
