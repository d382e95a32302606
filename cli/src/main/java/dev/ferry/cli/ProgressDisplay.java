package dev.ferry.cli;

import dev.ferry.MigrationSession;
import java.io.PrintStream;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Draws a {@link ProgressState} on a terminal, redrawn in place (carriage return, ANSI cursor-up and
 * erase-line) ten times a second from the session's progress, and once more when closed. Everything
 * it shows comes from {@link ProgressState#render(int)}. Thread-safe; one per migration.
 */
public final class ProgressDisplay implements AutoCloseable {
  private static final long PERIOD_MS = 100;

  private final MigrationSession session;
  private final ProgressState state;
  private final PrintStream out;
  private final int width;
  private final ScheduledExecutorService timer;
  private int drawn;

  private ProgressDisplay(MigrationSession session, ProgressState state, PrintStream out, int width) {
    this.session = session;
    this.state = state;
    this.out = out;
    this.width = width;
    this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "ferry-progress");
      t.setDaemon(true);
      return t;
    });
  }

  /** Starts drawing {@code state}, polling {@code session}'s progress. */
  public static ProgressDisplay start(MigrationSession session, ProgressState state, PrintStream out) {
    ProgressDisplay d = new ProgressDisplay(session, state, out, terminalWidth());
    d.timer.scheduleAtFixedRate(d::tick, 0, PERIOD_MS, TimeUnit.MILLISECONDS);
    return d;
  }

  private void tick() {
    state.onProgress(session.progress());
    draw();
  }

  private synchronized void draw() {
    List<String> lines = state.render(width);
    StringBuilder sb = new StringBuilder();
    if (drawn > 0) {
      sb.append('\r');
      if (drawn > 1) {
        sb.append("\033[").append(drawn - 1).append('A');
      }
    }
    for (int i = 0; i < lines.size(); i++) {
      sb.append("\033[2K").append(lines.get(i));
      if (i < lines.size() - 1) {
        sb.append('\n');
      }
    }
    out.print(sb);
    out.flush();
    drawn = lines.size();
  }

  /** Stops the timer and draws the last frame, leaving the cursor below it. */
  @Override
  public void close() {
    timer.shutdownNow();
    try {
      timer.awaitTermination(1, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    draw();
    out.println();
    out.flush();
  }

  private static int terminalWidth() {
    try {
      int columns = Integer.parseInt(System.getenv().getOrDefault("COLUMNS", "120").trim());
      return Math.max(40, columns);
    } catch (NumberFormatException e) {
      return 120;
    }
  }
}
