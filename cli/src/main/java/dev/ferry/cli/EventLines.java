package dev.ferry.cli;

import dev.ferry.MigrationEvent;
import dev.ferry.MigrationListener;
import dev.ferry.MigrationResult;
import dev.ferry.Progress;
import dev.ferry.RoundStats;
import dev.ferry.spi.DataSize;
import java.io.PrintStream;
import java.util.Locale;

/**
 * One line of text per migration event: rounds, decisions, phases, post-copy, the end: what the
 * quick start and the samples print (the {@code ferry migrate} command draws a {@link
 * ProgressDisplay} or prints JSON instead). Stateless and thread-safe (each line is one
 * {@code printf}).
 */
public final class EventLines {
  private EventLines() {}

  /** A listener that prints each event's line to {@code out}. */
  public static MigrationListener to(PrintStream out) {
    return e -> print(e, out);
  }

  /** Prints {@code e}'s line to {@code out}; events with nothing to say (none today) print nothing. */
  public static void print(MigrationEvent e, PrintStream out) {
    if (e instanceof MigrationEvent.RoundCompleted rc) {
      RoundStats s = rc.stats();
      Progress p = rc.progress();
      out.printf(Locale.ROOT,
          "round %d%s: sent %,d pages (%s) in %d ms at %s; dirty rate %,d pages/s; remaining %s; expected downtime %d ms%n",
          s.round(), s.stopAndCopy() ? " (stop-and-copy)" : "", s.pagesSent(),
          DataSize.bytes(s.pagesSent() * p.pageSize()), s.duration().toMillis(), s.bandwidth(),
          s.dirtyRatePagesPerSecond(), p.remaining(), s.expectedDowntime().toMillis());
    } else if (e instanceof MigrationEvent.Decision d) {
      out.printf("policy: %s (%s)%n", String.join(", ", d.actions()), d.reason());
    } else if (e instanceof MigrationEvent.PhaseChanged pc) {
      out.printf("phase: %s -> %s at %d ms%n", pc.from(), pc.to(), pc.elapsed().toMillis());
    } else if (e instanceof MigrationEvent.PostCopyProgress pc) {
      if (pc.stats().notMeasured().isPresent()) {
        out.printf(Locale.ROOT, "post-copy: %,d pages still to send; %,d requested; not measured: %s%n",
            pc.pagesMissing(), pc.stats().pagesRequested(), pc.stats().notMeasured().get());
      } else {
        out.printf(Locale.ROOT, "post-copy: %,d pages still to send; %,d requested, %,d pre-paged, %,d pushed%n",
            pc.pagesMissing(), pc.stats().pagesRequested(), pc.stats().pagesPrepaged(), pc.stats().pagesPushed());
      }
    } else if (e instanceof MigrationEvent.VerificationFailed vf) {
      out.printf(Locale.ROOT, "verification failed: %,d page(s) differ: %s%n", vf.pages(), vf.reason());
    } else if (e instanceof MigrationEvent.Finished f) {
      out.println(finished(f.result()));
    }
  }

  /** The line that says how a migration ended. */
  public static String finished(MigrationResult r) {
    return String.format(Locale.ROOT, "finished: %s in %d ms, downtime %s, %d rounds, %s on the wire%s", r.outcome(),
        r.totalTime().toMillis(), r.downtimeText(), r.roundCount(), DataSize.bytes(r.bytesOnWire()),
        r.cause().map(c -> ": " + c.getMessage()).orElse(""));
  }
}
