package dev.ferry;

import dev.ferry.spi.VmId;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * How a migration ended. Immutable.
 *
 * @param vmId the VM that was migrated (or not)
 * @param outcome how it ended and, so, where the VM runs now
 * @param cause why it did not complete; empty when {@link Outcome#COMPLETED}
 * @param downtime how long the guest was paused: from the source's pause to the destination's
 *     confirmation that it runs the guest (for a rolled-back migration, to the source's resume); zero
 *     if it never paused; empty when it was not measured (a hypervisor that keeps no figure), and
 *     then {@code downtimeUnknown} says why
 * @param downtimeUnknown why the downtime is not known; present exactly when {@code downtime} is
 *     empty
 * @param totalTime from the start of the migration to its end
 * @param bytesOnWire bytes sent to the destination, framing included
 * @param pagesSent pages sent, all rounds counted
 * @param rounds per-round history, in order
 * @param verified whether source and destination memory were compared while paused and found equal
 * @param actions what the convergence policy and the engine decided, in order, as text
 * @param postCopy what post-copy did, when the migration switched to it
 * @param downtimeBreakdown where the downtime went, part by part, when the engine measured it
 * @param bytesNotFinal present when {@code bytesOnWire} and {@code pagesSent} are not the
 *     migration's totals but the last figures the hypervisor reported before the end (a lower
 *     bound), saying why; empty when they are the totals
 */
public record MigrationResult(
    VmId vmId,
    Outcome outcome,
    Optional<MigrationException> cause,
    Optional<Duration> downtime,
    Optional<String> downtimeUnknown,
    Duration totalTime,
    long bytesOnWire,
    long pagesSent,
    List<RoundStats> rounds,
    boolean verified,
    List<String> actions,
    Optional<PostCopyStats> postCopy,
    Optional<DowntimeBreakdown> downtimeBreakdown,
    Optional<String> bytesNotFinal) {

  public MigrationResult {
    Objects.requireNonNull(vmId, "vmId");
    Objects.requireNonNull(outcome, "outcome");
    Objects.requireNonNull(cause, "cause");
    Objects.requireNonNull(downtime, "downtime");
    Objects.requireNonNull(downtimeUnknown, "downtimeUnknown");
    if (downtime.isPresent() == downtimeUnknown.isPresent()) {
      throw new IllegalArgumentException("a downtime is either measured or unknown with a reason: " + downtime
          + ", " + downtimeUnknown);
    }
    Objects.requireNonNull(totalTime, "totalTime");
    rounds = List.copyOf(rounds);
    actions = List.copyOf(actions);
    Objects.requireNonNull(postCopy, "postCopy");
    Objects.requireNonNull(downtimeBreakdown, "downtimeBreakdown");
    Objects.requireNonNull(bytesNotFinal, "bytesNotFinal");
    if ((outcome == Outcome.COMPLETED) == cause.isPresent()) {
      throw new IllegalArgumentException("a completed migration has no cause; any other outcome has one");
    }
  }

  /** A result whose bytes and pages are the migration's totals. */
  public MigrationResult(VmId vmId, Outcome outcome, Optional<MigrationException> cause, Optional<Duration> downtime,
      Optional<String> downtimeUnknown, Duration totalTime, long bytesOnWire, long pagesSent, List<RoundStats> rounds,
      boolean verified, List<String> actions, Optional<PostCopyStats> postCopy,
      Optional<DowntimeBreakdown> downtimeBreakdown) {
    this(vmId, outcome, cause, downtime, downtimeUnknown, totalTime, bytesOnWire, pagesSent, rounds, verified,
        actions, postCopy, downtimeBreakdown, Optional.empty());
  }

  /** A result with a measured downtime. */
  public MigrationResult(VmId vmId, Outcome outcome, Optional<MigrationException> cause, Duration downtime,
      Duration totalTime, long bytesOnWire, long pagesSent, List<RoundStats> rounds, boolean verified,
      List<String> actions, Optional<PostCopyStats> postCopy, Optional<DowntimeBreakdown> downtimeBreakdown) {
    this(vmId, outcome, cause, Optional.of(downtime), Optional.empty(), totalTime, bytesOnWire, pagesSent, rounds,
        verified, actions, postCopy, downtimeBreakdown);
  }

  /** A result with a measured downtime and no breakdown of it. */
  public MigrationResult(VmId vmId, Outcome outcome, Optional<MigrationException> cause, Duration downtime,
      Duration totalTime, long bytesOnWire, long pagesSent, List<RoundStats> rounds, boolean verified,
      List<String> actions, Optional<PostCopyStats> postCopy) {
    this(vmId, outcome, cause, downtime, totalTime, bytesOnWire, pagesSent, rounds, verified, actions, postCopy,
        Optional.empty());
  }

  /** A result of a migration that did not use post-copy. */
  public MigrationResult(VmId vmId, Outcome outcome, Optional<MigrationException> cause, Duration downtime,
      Duration totalTime, long bytesOnWire, long pagesSent, List<RoundStats> rounds, boolean verified,
      List<String> actions) {
    this(vmId, outcome, cause, downtime, totalTime, bytesOnWire, pagesSent, rounds, verified, actions,
        Optional.empty());
  }

  /** The downtime in milliseconds, or -1 when it is not known (for tables and logs; see {@link #downtime()}). */
  public long downtimeMillisOrMinusOne() {
    return downtime.map(Duration::toMillis).orElse(-1L);
  }

  /** The downtime as text: "232 ms", or "unknown (why)". */
  public String downtimeText() {
    return downtime.map(d -> d.toMillis() + " ms").orElseGet(() -> "unknown (" + downtimeUnknown.orElse("") + ")");
  }

  /** Whether the VM now runs on the destination. */
  public boolean completed() {
    return outcome == Outcome.COMPLETED;
  }

  /**
   * How much vCPU time the guest lost to throttling: the sum over rounds of the round's throttle
   * times its duration ({@link RoundStats#throttlePercent()} × {@link RoundStats#duration()}), as
   * if one vCPU were stopped for that long. The pause at switchover is {@link #downtime()}, apart.
   */
  public Duration guestSlowdown() {
    long nanos = 0;
    for (RoundStats r : rounds) {
      if (!r.stopAndCopy() && r.throttlePercent() > 0) {
        nanos += r.duration().toNanos() / 100 * r.throttlePercent();
      }
    }
    return Duration.ofNanos(nanos);
  }

  /** Number of copy rounds, stop-and-copy included. */
  public int roundCount() {
    return rounds.size();
  }

  /** How a migration ended, and where the VM runs afterwards. */
  public enum Outcome {
    /** The VM runs on the destination; the source copy is stopped and released. */
    COMPLETED,
    /** {@link MigrationSession#cancel()} stopped it; the VM runs on the source, the destination holds nothing. */
    CANCELLED,
    /**
     * The convergence policy or the deadline gave up; the VM runs on the source, the destination
     * holds nothing.
     */
    ROLLED_BACK,
    /**
     * An error (link, destination, verification) ended it; the VM runs on the source, the
     * destination holds nothing.
     */
    FAILED,
    /**
     * The switchover could not be confirmed: the destination may or may not have resumed the VM.
     * The source copy is kept paused, never resumed, so that two copies never run; the application
     * must ask the destination which holds the VM.
     */
    IN_DOUBT,
    /**
     * The switchover happened, but the destination does not run the VM afterwards: its hypervisor
     * process crashed or was killed at or after the switch. The source copy is released or stale, so
     * the VM runs nowhere; the result's cause says what the destination's hypervisor reported.
     */
    DESTINATION_FAILED,
    /**
     * Post-copy could not finish: the destination ran the VM but lost the source before it had
     * every page. The result's cause names the missing pages. The VM cannot be recovered by Ferry.
     */
    GUEST_LOST
  }
}
