package dev.ferry.cli;

import dev.ferry.MigrationListener;
import dev.ferry.report.EventJson;
import java.io.IOException;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The JSON outputs of a migration, all in ferry-report's event schema ({@link EventJson}): one line
 * per event on stdout, or a JSON Lines file. Thread-safe as {@link EventJson}'s writers are.
 */
final class JsonEvents {
  private JsonEvents() {}

  /** One JSON object per event, a line each, on {@code out}. */
  static MigrationListener lines(PrintStream out) {
    return EventJson.writer(out);
  }

  /** A JSON Lines file of the events, closed when the migration's outputs are. */
  interface File extends MigrationListener, AutoCloseable {
    @Override
    void close() throws IOException;
  }

  /** Opens {@code path} (replacing it) as a JSON Lines file of events. */
  static File file(Path path) throws IOException {
    Writer w = Files.newBufferedWriter(path, StandardCharsets.UTF_8);
    MigrationListener l = EventJson.writer(w);
    return new File() {
      @Override
      public void onEvent(dev.ferry.MigrationEvent event) {
        l.onEvent(event);
      }

      @Override
      public void close() throws IOException {
        w.close();
      }
    };
  }
}
