package dev.ferry;

import java.time.Duration;
import java.util.List;

/**
 * Something that happened during a migration. Delivered to {@link MigrationListener}s in the order
 * written there.
 */
public sealed interface MigrationEvent {

  /** Time since the migration started. */
  Duration elapsed();

  /** The migration moved from one phase to the next. */
  record PhaseChanged(Duration elapsed, Phase from, Phase to) implements MigrationEvent {}

  /** A copy round ended; {@code progress} is the snapshot taken at its end. */
  record RoundCompleted(Duration elapsed, RoundStats stats, Progress progress) implements MigrationEvent {}

  /**
   * The convergence policy, or the engine on its behalf, decided something: why, and what was
   * done.
   */
  record Decision(Duration elapsed, List<String> actions, String reason) implements MigrationEvent {}

  /**
   * During post-copy, at most every 100 ms: how many pages are still missing on the destination
   * and what post-copy has done so far.
   */
  record PostCopyProgress(Duration elapsed, long pagesMissing, PostCopyStats stats) implements MigrationEvent {}

  /**
   * Verification found that the source's memory, frozen at the pause, differs from what was sent:
   * writes its dirty log did not report. The guest runs on the destination with stale copies of
   * those pages; the source copy is kept paused, not released.
   *
   * @param pages how many pages differ
   * @param firstPages the first of them (at most 16)
   * @param reason the whole finding, in words
   */
  record VerificationFailed(Duration elapsed, long pages, List<Long> firstPages, String reason)
      implements MigrationEvent {
    public VerificationFailed {
      firstPages = List.copyOf(firstPages);
    }
  }

  /** The migration ended. Always the last event of a session. */
  record Finished(Duration elapsed, MigrationResult result) implements MigrationEvent {}
}
