package dev.ferry.cli;

import dev.ferry.MigrationListener;
import dev.ferry.MigrationSession;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The outputs of one migration, as {@link OutputOptions} chose them: the progress display on a
 * terminal, or JSON events on stdout; the JSON Lines file; the HTML report. {@link #listener()} goes
 * into the migration's options, {@link #started} gets the session, {@link #close()} ends the display
 * and writes the files (once; later calls do nothing). Messages for the user go through {@link #log}: to stdout beside the display,
 * to stderr in JSON mode, so that stdout holds only events. Not thread-safe except for the
 * listener, which the session calls from its own threads.
 */
public final class EventOutput implements AutoCloseable {
  private final boolean display;
  private final ProgressState state;
  private final PrintStream out = System.out;
  private final List<MigrationListener> listeners = new ArrayList<>();
  private final List<AutoCloseable> closers = new ArrayList<>();
  private ProgressDisplay drawing;
  private boolean closed;

  EventOutput(String vm, boolean display, Path events, Path report) throws IOException {
    this.display = display;
    this.state = new ProgressState(vm);
    if (display) {
      listeners.add(state::onEvent);
    } else {
      listeners.add(JsonEvents.lines(out));
    }
    if (events != null) {
      JsonEvents.File file = JsonEvents.file(events);
      listeners.add(file);
      closers.add(file);
    }
    if (report != null) {
      JsonEvents.File r = JsonEvents.report(report, vm);
      listeners.add(r);
      closers.add(r);
    }
  }

  /** The listener that feeds every output. */
  public MigrationListener listener() {
    return e -> {
      for (MigrationListener l : listeners) {
        l.onEvent(e);
      }
    };
  }

  /** The migration has started: the display, if any, begins to draw. */
  public void started(MigrationSession session) {
    if (display) {
      drawing = ProgressDisplay.start(session, state, out);
    }
  }

  /** A message for the user (stdout beside the display, stderr in JSON mode). */
  public void log(String message) {
    (display ? out : System.err).println(message);
  }

  @Override
  public synchronized void close() throws Exception {
    if (closed) {
      return;
    }
    closed = true;
    if (drawing != null) {
      drawing.close();
    }
    Exception first = null;
    for (AutoCloseable c : closers) {
      try {
        c.close();
      } catch (Exception e) {
        if (first == null) {
          first = e;
        }
      }
    }
    if (first != null) {
      throw first;
    }
  }
}
