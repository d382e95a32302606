package dev.ferry.cli;

import dev.ferry.MigrationEvent;
import dev.ferry.MigrationResult;
import dev.ferry.Phase;
import dev.ferry.Progress;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What the progress display of one migration shows, fed by the session's progress samples and its
 * events, and rendered to text by {@link #render(int)} (no terminal needed, so it is tested as a
 * string).
 *
 * <p>The bar is the current round's: bytes sent in this round against those sent plus those the
 * round still has to send, the rate over the round so far, and the time the rest will take at that
 * rate. Within a round the bar, the bytes and the ETA never run backwards: a sample that would move
 * the bar back (the round found more dirty pages) or the ETA up (the rate dropped) leaves them
 * where they were, and an ETA that runs out while bytes remain says "overdue" rather than growing
 * again. A new round starts the bar over from zero, under its own number. In post-copy the bar is
 * the pages that have arrived of those missing at the switch.
 *
 * <p>Thread-safe: the session's listener and the display's timer both call it.
 */
public final class ProgressState {
  private static final int BAR = 24;

  private final String vm;
  private Phase phase = Phase.SETUP;
  private long round = -1;
  private long roundBase;
  private long lastTransferred;
  private Duration roundStart = Duration.ZERO;
  private Duration elapsed = Duration.ZERO;
  private long sent;
  private long roundTotal;
  private double fraction;
  private long rate;
  private long etaEndMillis = Long.MAX_VALUE;
  private long remaining;
  private Duration expectedDowntime;
  private Duration downtimeLimit;
  private int throttle;
  private String decision;
  private long missingAtSwitch = -1;
  private long missing;
  private MigrationResult result;

  public ProgressState(String vm) {
    this.vm = vm;
  }

  /** A progress sample (polled from the session, or carried by an event). */
  public synchronized void onProgress(Progress p) {
    Duration before = elapsed;
    if (p.elapsed().compareTo(elapsed) > 0) {
      elapsed = p.elapsed();
    }
    if (p.phase() != Phase.ENDED && p.phase().compareTo(phase) > 0) {
      // phases only move forward; a sample taken before a PhaseChanged event may arrive after it
      phase = p.phase();
    }
    if (p.round() > round) {
      // a round this state has not seen start: it began after the last sample or event seen
      startRound(p.round(), lastTransferred, before);
    }
    lastTransferred = Math.max(lastTransferred, p.transferred().bytes());
    if (p.round() == round && phase != Phase.POST_COPY) {
      long sentNow = Math.max(0, p.transferred().bytes() - roundBase);
      long left = p.remaining().bytes();
      advance(sentNow, left);
    }
    if (phase != Phase.POST_COPY && p.round() > 0) {
      // round 0 has no estimate yet (its samples carry zero): leave it unknown, not "0 ms"
      expectedDowntime = p.expectedDowntime();
    }
    downtimeLimit = p.downtimeLimit();
    throttle = p.throttlePercent();
  }

  /** An event of the session. */
  public synchronized void onEvent(MigrationEvent e) {
    if (e.elapsed().compareTo(elapsed) > 0) {
      elapsed = e.elapsed();
    }
    if (e instanceof MigrationEvent.PhaseChanged pc) {
      phase = pc.to();
    } else if (e instanceof MigrationEvent.RoundCompleted rc) {
      Progress p = rc.progress();
      if (rc.stats().round() == round) {
        advance(Math.max(sent, p.transferred().bytes() - roundBase), 0);
      }
      lastTransferred = Math.max(lastTransferred, p.transferred().bytes());
      if (!rc.stats().stopAndCopy()) {
        // the next round starts where this one ended
        startRound(rc.stats().round() + 1, p.transferred().bytes(), p.elapsed());
      }
      expectedDowntime = rc.stats().expectedDowntime();
      downtimeLimit = p.downtimeLimit();
      throttle = p.throttlePercent();
    } else if (e instanceof MigrationEvent.Decision d) {
      decision = d.actions().isEmpty() ? d.reason() : String.join(", ", d.actions()) + " (" + d.reason() + ")";
    } else if (e instanceof MigrationEvent.PostCopyProgress pc) {
      phase = Phase.POST_COPY;
      if (missingAtSwitch < 0) {
        missingAtSwitch = Math.max(1, pc.pagesMissing());
        fraction = 0;
      }
      missing = Math.min(missingAtSwitch, pc.pagesMissing());
      fraction = Math.max(fraction, 1 - (double) missing / missingAtSwitch);
    } else if (e instanceof MigrationEvent.Finished f) {
      result = f.result();
      phase = Phase.ENDED;
    }
  }

  private void startRound(long number, long base, Duration start) {
    if (number <= round) {
      return;
    }
    round = number;
    roundBase = base;
    roundStart = start;
    sent = 0;
    roundTotal = 0;
    fraction = 0;
    rate = 0;
    remaining = 0;
    etaEndMillis = Long.MAX_VALUE;
  }

  private void advance(long sentNow, long left) {
    sent = Math.max(sent, sentNow);
    remaining = left;
    roundTotal = Math.max(roundTotal, sent + left);
    if (sent + left > 0) {
      fraction = Math.max(fraction, (double) sent / (sent + left));
    }
    long inRound = elapsed.minus(roundStart).toMillis();
    if (inRound > 0 && sent > 0) {
      rate = sent * 1000 / inRound;
      long eta = left == 0 ? 0 : (long) Math.ceil(left * 1000.0 / rate);
      etaEndMillis = Math.min(etaEndMillis, elapsed.toMillis() + eta);
    }
  }

  /** The round the bar is of (-1 before the first). */
  public synchronized long round() {
    return round;
  }

  /** The bar's fill, 0 to 1. */
  public synchronized double fraction() {
    return fraction;
  }

  /** Bytes sent in the current round, as shown. */
  public synchronized long sentThisRound() {
    return sent;
  }

  /** The ETA shown, in milliseconds; -1 while unknown. */
  public synchronized long etaMillis() {
    return etaEndMillis == Long.MAX_VALUE ? -1 : Math.max(0, etaEndMillis - elapsed.toMillis());
  }

  /** The migration's result, once it has finished. */
  public synchronized MigrationResult result() {
    return result;
  }

  /** The frame: three lines, none longer than {@code width} columns. */
  public synchronized List<String> render(int width) {
    List<String> lines = new ArrayList<>(3);
    int filled = (int) Math.floor(fraction * BAR);
    String bar = "#".repeat(filled) + "-".repeat(BAR - filled);
    String what;
    if (phase == Phase.POST_COPY) {
      what = String.format(Locale.ROOT, "%s post-copy [%s] %3d%%  %,d pages still missing", vm, bar,
          (int) (fraction * 100), missing);
    } else {
      String eta = etaMillis() < 0 ? "ETA --" : etaMillis() == 0 && remaining > 0 ? "ETA overdue"
          : "ETA " + seconds(etaMillis());
      what = String.format(Locale.ROOT, "%s round %d [%s] %3d%%  %s / %s  %s  %s", vm, Math.max(round, 0), bar,
          (int) (fraction * 100), DataSize.bytes(sent), DataSize.bytes(roundTotal),
          rate > 0 ? Bandwidth.bytesPerSecond(rate).toString() : "-- MB/s", eta);
    }
    lines.add(what);
    lines.add(String.format(Locale.ROOT, "phase %s  elapsed %s  expected downtime %s / limit %s  throttle %d%%",
        phase, seconds(elapsed.toMillis()), expectedDowntime == null ? "--" : expectedDowntime.toMillis() + " ms",
        downtimeLimit == null ? "--" : downtimeLimit.toMillis() + " ms", throttle));
    lines.add(result != null ? EventLines.finished(result) : "policy: " + (decision == null ? "no decision yet" : decision));
    lines.replaceAll(l -> l.length() > width ? l.substring(0, Math.max(0, width - 1)) + "~" : l);
    return lines;
  }

  private static String seconds(long millis) {
    return String.format(Locale.ROOT, "%.1f s", millis / 1e3);
  }
}
