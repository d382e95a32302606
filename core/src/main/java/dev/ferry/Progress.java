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
 * @param workingSet estimate of the memory the guest rewrites over and over, whatever a round's
 *     length: the pages dirtied in both of the last two rounds (before round 1, all the pages
 *     dirtied in the last round)
 * @param bandwidth transfer rate achieved in the last round
 * @param expectedDowntime the pause the guest would see if stop-and-copy began now
 * @param downtimeLimit the largest pause allowed now
 * @param bandwidthLimit the bandwidth cap now ({@link Bandwidth#UNLIMITED} for none)
 * @param throttlePercent how much the vCPUs are slowed down now, 0 to 99
 * @param deadline how long the migration may take in all ({@link Duration#ZERO} for no deadline)
 * @param maxDowntime the configured ceiling of the downtime limit ({@link
 *     dev.ferry.MigrationOptions#maxDowntime()}): the engine never lets a policy raise the limit
 *     above it; only {@link dev.ferry.policy.PolicyAction.ForceCompletion} may exceed it
 * @param lastRoundSent guest memory sent in the last round (zero before the first round ends)
 * @param stalledRounds consecutive rounds, ending with this one, without progress: a round makes
 *     progress when it leaves {@code remaining} at most 90 % of the lowest {@code remaining} of any
 *     earlier round (the "progress watermark" of Nova and KubeVirt, with Nova's 10 % step); 0 after
 *     round 0
 * @param sinceProgress time since the last round that made progress (since the start if none has)
 * @param throttleAvailable whether the backend can throttle the vCPUs
 * @param postCopyAvailable whether a switch to post-copy would be carried out now; when false, the
 *     engine refuses {@link dev.ferry.policy.PolicyAction.SwitchToPostCopy} and policies should fall
 *     through to their next step
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
    Duration deadline,
    Duration maxDowntime,
    DataSize lastRoundSent,
    long stalledRounds,
    Duration sinceProgress,
    boolean throttleAvailable,
    boolean postCopyAvailable) {

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
    Objects.requireNonNull(maxDowntime, "maxDowntime");
    Objects.requireNonNull(lastRoundSent, "lastRoundSent");
    Objects.requireNonNull(sinceProgress, "sinceProgress");
  }

  /** Bytes the guest dirties per second. */
  public long dirtyRateBytesPerSecond() {
    return dirtyRatePagesPerSecond * pageSize;
  }

  /** Whether stop-and-copy would fit the downtime limit if it began now. */
  public boolean fitsDowntime() {
    return expectedDowntime.compareTo(downtimeLimit) <= 0;
  }

  /** Whether a deadline is set. */
  public boolean hasDeadline() {
    return !deadline.isZero();
  }

  /** Time left until the deadline; {@link Duration#ZERO} once past; a very long time when none is set. */
  public Duration timeLeft() {
    if (deadline.isZero()) {
      return Duration.ofDays(365_000);
    }
    Duration left = deadline.minus(elapsed);
    return left.isNegative() ? Duration.ZERO : left;
  }

  /** Whether a deadline is set and has passed. */
  public boolean pastDeadline() {
    return !deadline.isZero() && elapsed.compareTo(deadline) > 0;
  }

  /**
   * Whether this is the last moment to end the migration before its deadline: one more round
   * (sending {@code remaining} at {@code bandwidth}, with 10 % and 20 ms of slack) followed by a
   * stop-and-copy (of {@code expectedDowntime}, or of what the guest would dirty during that round
   * at the current dirty rate, whichever is longer) would not end before it. Always false without a
   * deadline. Policies abort or force completion when this holds, so that both happen before the
   * deadline, not after.
   */
  public boolean lastChance() {
    if (deadline.isZero()) {
      return false;
    }
    if (pastDeadline()) {
      return true;
    }
    long round = nanos(bandwidth.timeFor(remaining.bytes()));
    // After one more round, the pause costs what it costs now, or what the guest dirties during
    // that round at the current rate, whichever is more.
    long overhead = Math.max(0, nanos(expectedDowntime) - round);
    double dirtiedNext = (double) dirtyRateBytesPerSecond() * round / 1e9;
    long next = overhead + nanos(bandwidth.timeFor((long) Math.min(dirtiedNext, 1e18)));
    long end = nanos(elapsed) + round + round / 10 + 20_000_000L + Math.max(nanos(expectedDowntime), next);
    return end < 0 || end >= nanos(deadline);
  }

  /** Nanoseconds, saturated at a quarter of {@code Long.MAX_VALUE} (about 73 years) so sums cannot overflow. */
  private static long nanos(Duration d) {
    return d.compareTo(SATURATED) >= 0 ? SATURATED.toNanos() : d.toNanos();
  }

  private static final Duration SATURATED = Duration.ofNanos(Long.MAX_VALUE / 4);
}
