package dev.ferry;

/**
 * Receives a migration's events.
 *
 * <p>Order: a {@link MigrationEvent.PhaseChanged} into {@link Phase#PRE_COPY} (or straight into
 * {@link Phase#STOP_AND_COPY} for a quick migration); then, for each pre-copy round, its
 * {@link MigrationEvent.RoundCompleted} followed by the {@link MigrationEvent.Decision}s taken on
 * it; then either a {@code PhaseChanged} into {@link Phase#STOP_AND_COPY} and the stop-and-copy
 * round's {@code RoundCompleted}, or a {@code PhaseChanged} into {@link Phase#POST_COPY} followed by
 * {@link MigrationEvent.PostCopyProgress} events; a {@code PhaseChanged} into {@link Phase#ENDED};
 * and last, exactly once, {@link MigrationEvent.Finished}. A migration that fails skips to
 * {@code ENDED} from wherever it is. A listener added after the migration ended receives nothing.
 *
 * <p>Events are delivered one at a time, from the migration's own thread, so a listener must
 * return quickly: a slow listener slows the migration. An exception thrown by a listener is logged
 * and otherwise ignored.
 */
@FunctionalInterface
public interface MigrationListener {

  /** A listener that does nothing. */
  MigrationListener NOOP = event -> {};

  /** Called for each event, in order. */
  void onEvent(MigrationEvent event);
}
