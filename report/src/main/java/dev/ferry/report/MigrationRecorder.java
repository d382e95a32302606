package dev.ferry.report;

import dev.ferry.MigrationEvent;
import dev.ferry.MigrationListener;
import java.util.ArrayList;
import java.util.List;

/**
 * A listener that keeps a migration's events in memory, to make an {@link EventLog} (and so a
 * {@link HtmlReport}) without writing a file: {@code options.listener(recorder)}, then, after the
 * migration, {@code recorder.log()}.
 *
 * <p>Thread-safe: events may arrive on the migration's thread while another reads {@link #log()}.
 */
public final class MigrationRecorder implements MigrationListener {
  private final List<MigrationEvent> events = new ArrayList<>();

  @Override
  public void onEvent(MigrationEvent event) {
    synchronized (events) {
      events.add(event);
    }
  }

  /** The events received so far, in order. */
  public List<MigrationEvent> events() {
    synchronized (events) {
      return List.copyOf(events);
    }
  }

  /** The events received so far as an event log (the same model as one read from a file). */
  public EventLog log() {
    return EventLog.of(events());
  }
}
