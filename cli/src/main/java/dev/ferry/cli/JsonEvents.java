package dev.ferry.cli;

import dev.ferry.MigrationEvent;
import dev.ferry.MigrationListener;
import java.io.PrintStream;
import java.nio.file.Path;

/** PLACEHOLDER until ferry-report is merged: the JSON of events comes from dev.ferry.report.EventJson. */
final class JsonEvents {
  private JsonEvents() {}

  static MigrationListener lines(PrintStream out) {
    return e -> EventLines.print(e, out);
  }

  interface File extends MigrationListener, AutoCloseable {}

  interface Report extends MigrationListener, AutoCloseable {}

  static File file(Path path) {
    throw new IllegalArgumentException("--events needs ferry-report (not merged yet)");
  }

  static Report report(Path path) {
    throw new IllegalArgumentException("--report needs ferry-report (not merged yet)");
  }

  static void unused(MigrationEvent e) {}
}
