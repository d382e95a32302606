package dev.ferry.cli;

import dev.ferry.MigrationListener;
import dev.ferry.report.EventJson;
import dev.ferry.report.HtmlReport;
import dev.ferry.report.MigrationRecorder;
import java.io.IOException;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The recorded outputs of a migration, all from ferry-report: one JSON line per event on stdout or
 * in a JSON Lines file ({@link EventJson}, the documented event schema), and the HTML report
 * ({@link HtmlReport}) of the events recorded in memory. Thread-safe as {@link EventJson}'s writers
 * and {@link MigrationRecorder} are.
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

  /** Records the events; {@link #close()} writes the HTML report of them to {@code path}. */
  static File report(Path path, String vm) {
    MigrationRecorder recorder = new MigrationRecorder();
    return new File() {
      @Override
      public void onEvent(dev.ferry.MigrationEvent event) {
        recorder.onEvent(event);
      }

      @Override
      public void close() throws IOException {
        HtmlReport r = HtmlReport.of(recorder.log());
        r.withTitle("Migration of " + vm + ": " + recorder.log().result().map(x -> x.outcome()).orElse("no result"))
            .write(path);
      }
    };
  }
}
