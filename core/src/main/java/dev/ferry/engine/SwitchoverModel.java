package dev.ferry.engine;

import dev.ferry.DowntimeBreakdown;
import dev.ferry.spi.Bandwidth;
import java.time.Duration;
import java.util.ArrayDeque;

/**
 * What a stop-and-copy would cost if it began now, part by part: the model the switchover decides
 * on, the {@link dev.ferry.Progress#expectedDowntime()} the policies see, and (with its priors) what
 * {@link dev.ferry.Ferry#plan} assumes.
 *
 * <p>Design note. A stop-and-copy's downtime is the sum of its parts ({@link DowntimeBreakdown}):
 * pausing the vCPUs, the last sync of the dirty log, the last dirty pages, the device state, the
 * destination's confirmation, the commit's round trip and the destination's activation. Each is
 * predicted from what this migration measured, never from a best case:
 * <ul>
 *   <li>the sync: the longest of the last {@link #WINDOW} syncs of this run;
 *   <li>the pages: their bytes over the bandwidth the rounds achieved, times a margin learned from
 *       this run's own error: each round sends exactly the pages the previous round left dirty, so
 *       the time it takes against the time predicted for it is the model's error on the same
 *       question the switchover asks; the margin is the largest ratio of the last {@link #WINDOW}
 *       rounds of at least 1 MiB (never below 1, at most {@link #MAX_MARGIN});
 *   <li>the confirmation and the commit: one measured round trip each;
 *   <li>the pause, the device state and the activation, which only a stop-and-copy shows: what the
 *       last stop-and-copies of this process measured (each part's median of the last few, from the
 *       last two minutes), or a prior before there was one.
 * </ul>
 * After the stop-and-copy the measured parts are compared with the prediction (see
 * {@link #overruns}), and the ones this process learns from are kept for the next migration.
 *
 * <p>Confined to the migration thread, but for the process-wide history, which is synchronized.
 */
public final class SwitchoverModel {
  /** Bytes a page costs on the wire besides its data: the entry header. */
  static final long PAGE_OVERHEAD = 9;
  static final int WINDOW = 5;
  static final double MAX_MARGIN = 3.0;
  /** Priors for the parts only a stop-and-copy shows, before this process has seen one. */
  static final Duration PAUSE_PRIOR = Duration.ofMillis(2);
  static final Duration ACTIVATION_PRIOR = Duration.ofMillis(2);
  static final long DEVICE_STATE_PRIOR_BYTES = 64 << 10;
  /** How long what a stop-and-copy measured informs the next migrations' predictions. */
  static final Duration HISTORY_TTL = Duration.ofMinutes(2);

  private final int pageSize;
  private final long rttNanos;
  private final ArrayDeque<Long> syncs = new ArrayDeque<>();
  private final ArrayDeque<Double> ratios = new ArrayDeque<>();
  private long pendingPredictedNanos = -1;

  SwitchoverModel(int pageSize, long rttNanos) {
    this.pageSize = pageSize;
    this.rttNanos = rttNanos;
  }

  /** The parts of a stop-and-copy of {@code dirtyPages} pages over {@code bandwidth}. */
  DowntimeBreakdown predict(long dirtyPages, Bandwidth bandwidth) {
    long pages = pagesNanos(dirtyPages, bandwidth);
    double margin = margin();
    long withMargin = (long) (pages * margin);
    History h = History.get();
    return new DowntimeBreakdown(h.pause, Duration.ofNanos(longestSync()), Duration.ofNanos(withMargin),
        bandwidth.timeFor(h.deviceStateBytes), Duration.ofNanos(rttNanos), Duration.ZERO, Duration.ofNanos(rttNanos),
        h.activation);
  }

  private long pagesNanos(long dirtyPages, Bandwidth bandwidth) {
    return bandwidth.timeFor(dirtyPages * (pageSize + PAGE_OVERHEAD)).toNanos();
  }

  /** A sync of the dirty log took {@code nanos}. */
  void observeSync(long nanos) {
    push(syncs, nanos);
  }

  /**
   * A round ended leaving {@code dirtyPages} for the next one, which the bandwidth then predicts at
   * {@link #pagesNanos}; call {@link #observeRound} when that next round has been sent.
   */
  void expectRound(long dirtyPages, Bandwidth bandwidth) {
    pendingPredictedNanos = dirtyPages == 0 ? -1 : pagesNanos(dirtyPages, bandwidth);
  }

  /** The round predicted by {@link #expectRound} took {@code nanos} and put {@code wireBytes} on the wire. */
  void observeRound(long nanos, long wireBytes) {
    if (pendingPredictedNanos > 0 && wireBytes >= (1 << 20)) {
      push(ratios, (double) nanos / pendingPredictedNanos);
    }
    pendingPredictedNanos = -1;
  }

  /** The learned margin on the pages' time: 1 until a round has shown the model optimistic. */
  double margin() {
    double m = 1.0;
    for (double r : ratios) {
      m = Math.max(m, r);
    }
    return Math.min(MAX_MARGIN, m);
  }

  private long longestSync() {
    long m = 0;
    for (long s : syncs) {
      m = Math.max(m, s);
    }
    return m;
  }

  private static <T> void push(ArrayDeque<T> q, T v) {
    q.addLast(v);
    if (q.size() > WINDOW) {
      q.removeFirst();
    }
  }

  /**
   * The parts of {@code measured} that took longer than {@code predicted} said, in words, worst
   * first; empty when none did by more than a millisecond.
   */
  static java.util.List<String> overruns(DowntimeBreakdown predicted, DowntimeBreakdown measured) {
    java.util.List<String> out = new java.util.ArrayList<>();
    String[] names = {"pause", "final sync", "final pages", "device state", "confirmation", "verification",
        "commit", "activation"};
    Duration[] p = parts(predicted);
    Duration[] m = parts(measured);
    Integer[] order = new Integer[names.length];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
    java.util.Arrays.sort(order, (a, b) -> m[b].minus(p[b]).compareTo(m[a].minus(p[a])));
    for (int i : order) {
      Duration over = m[i].minus(p[i]);
      if (over.toNanos() > 1_000_000) {
        out.add(names[i] + " took " + ms(m[i]) + " ms, " + ms(over) + " ms more than the " + ms(p[i])
            + " ms predicted");
      }
    }
    return out;
  }

  private static Duration[] parts(DowntimeBreakdown d) {
    return new Duration[] {d.pause(), d.finalSync(), d.finalPages(), d.deviceState(), d.confirmation(),
        d.verification(), d.commit(), d.activation()};
  }

  private static String ms(Duration d) {
    return String.format(java.util.Locale.ROOT, "%.1f", d.toNanos() / 1e6);
  }

  /** Learns the parts only a stop-and-copy shows, for the next migrations of this process. */
  static void learn(DowntimeBreakdown measured, long deviceStateBytes) {
    History.learn(measured.pause(), measured.activation(), deviceStateBytes);
  }

  /**
   * What the stop-and-copies of this process showed of the parts only they measure: the median of
   * the last few of each (the lower middle of an even count), from the last {@link #HISTORY_TTL}.
   * A median, not the largest: one stop-and-copy slowed by a busy moment (a 400 ms activation) would
   * otherwise keep every later migration of the process from fitting its limit, since none of them
   * could switch over to measure a faster one; and one quick pause does not make the next prediction
   * optimistic either. Old figures expire, for the same reason.
   */
  private static final class History {
    private static final ArrayDeque<long[]> SEEN = new ArrayDeque<>();
    final Duration pause;
    final Duration activation;
    final long deviceStateBytes;

    private History(Duration pause, Duration activation, long deviceStateBytes) {
      this.pause = pause;
      this.activation = activation;
      this.deviceStateBytes = deviceStateBytes;
    }

    static synchronized History get() {
      expire(System.nanoTime());
      if (SEEN.isEmpty()) {
        return new History(PAUSE_PRIOR, ACTIVATION_PRIOR, DEVICE_STATE_PRIOR_BYTES);
      }
      return new History(Duration.ofNanos(median(1)), Duration.ofNanos(median(2)), median(3));
    }

    static synchronized void learn(Duration pause, Duration activation, long deviceStateBytes) {
      long now = System.nanoTime();
      expire(now);
      push(SEEN, new long[] {now, pause.toNanos(), activation.toNanos(), deviceStateBytes});
    }

    static synchronized void forget() {
      SEEN.clear();
    }

    private static void expire(long now) {
      while (!SEEN.isEmpty() && now - SEEN.peekFirst()[0] > HISTORY_TTL.toNanos()) {
        SEEN.removeFirst();
      }
    }

    private static long median(int field) {
      long[] v = SEEN.stream().mapToLong(e -> e[field]).sorted().toArray();
      return v[(v.length - 1) / 2];
    }
  }

  /** Forgets what earlier stop-and-copies showed (tests that teach the history an outlier). */
  static void forgetHistory() {
    History.forget();
  }

  /** The priors alone, as {@link dev.ferry.Ferry#plan} sees a stop-and-copy before any migration. */
  public static DowntimeBreakdown fixedParts(long rttNanos, Bandwidth bandwidth) {
    History h = History.get();
    return new DowntimeBreakdown(h.pause, Duration.ZERO, Duration.ZERO, bandwidth.timeFor(h.deviceStateBytes),
        Duration.ofNanos(rttNanos), Duration.ZERO, Duration.ofNanos(rttNanos), h.activation);
  }
}
