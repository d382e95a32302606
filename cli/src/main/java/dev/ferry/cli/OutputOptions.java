package dev.ferry.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * How a migrating command shows its migration: a progress display on a terminal, or with
 * {@code --json} (or when stdout is not a terminal) one JSON object per event and nothing else on
 * stdout; and, besides, the events as JSON Lines in a file and an HTML report. Not thread-safe:
 * picocli fills it, one command reads it.
 */
public final class OutputOptions {
  @Option(names = "--json",
      description = "One JSON object per event on stdout, nothing else (the default when stdout is not a terminal).")
  boolean json;

  @Option(names = "--events", paramLabel = "FILE", description = "Also write the events to FILE as JSON Lines.")
  Path events;

  @Option(names = "--report", paramLabel = "FILE", description = "Also record the migration and write its HTML report to FILE.")
  Path report;

  /** Whether the progress display is drawn: a terminal, and no {@code --json}. */
  public boolean progressDisplay() {
    return !json && System.console() != null;
  }

  /** Opens the outputs of one migration of VM {@code vm}. */
  public EventOutput open(String vm) throws java.io.IOException {
    return new EventOutput(vm, progressDisplay(), events, report);
  }
}
