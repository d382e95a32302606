package dev.ferry;

import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/**
 * What the post-copy phase of a migration did and cost the guest.
 *
 * @param duration from the guest's resumption on the destination until its last page arrived (or
 *     until the migration ended otherwise)
 * @param faults times a destination vCPU blocked on a page that had not arrived
 * @param blockedTotal time destination vCPUs spent blocked on missing pages, all faults together
 * @param blockedP50 median time one fault blocked a vCPU
 * @param blockedP99 99th percentile of the same
 * @param blockedMax longest time one fault blocked a vCPU
 * @param pagesRequested pages sent because the destination asked for them
 * @param pagesPrepaged pages sent next to a requested page, ahead of the background push
 * @param pagesPushed pages sent by the background push
 * @param recoveries times the link broke and post-copy resumed on a new connection
 * @param notMeasured which of these figures the backend does not measure, and so are zero here
 *     without being measured; empty when every figure is a measurement
 */
public record PostCopyStats(
    Duration duration,
    long faults,
    Duration blockedTotal,
    Duration blockedP50,
    Duration blockedP99,
    Duration blockedMax,
    long pagesRequested,
    long pagesPrepaged,
    long pagesPushed,
    int recoveries,
    Optional<String> notMeasured) {

  public PostCopyStats {
    Objects.requireNonNull(duration, "duration");
    Objects.requireNonNull(notMeasured, "notMeasured");
  }

  /** Post-copy statistics in which every figure was measured. */
  public PostCopyStats(Duration duration, long faults, Duration blockedTotal, Duration blockedP50,
      Duration blockedP99, Duration blockedMax, long pagesRequested, long pagesPrepaged, long pagesPushed,
      int recoveries) {
    this(duration, faults, blockedTotal, blockedP50, blockedP99, blockedMax, pagesRequested, pagesPrepaged,
        pagesPushed, recoveries, Optional.empty());
  }
}
