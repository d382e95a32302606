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

  /** The migration ended. Always the last event of a session. */
  record Finished(Duration elapsed, MigrationResult result) implements MigrationEvent {}
}
