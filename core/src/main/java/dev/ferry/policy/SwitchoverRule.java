package dev.ferry.policy;

import dev.ferry.Progress;
import java.time.Duration;
import java.util.Locale;

/**
 * When a stop-and-copy that fits the downtime limit begins: the one rule the engine and the
 * {@link PolicySimulator} (and so {@link dev.ferry.Ferry#plan}) share.
 *
 * <p>Design note. The limit is the longest pause the guest can bear, not a target. The expected
 * downtime is a prediction whose error grows with what it predicts: a destination that falls behind
 * applying the last pages, or a machine that got busier in the last second, stretches every part
 * at once (seen on a 2-core machine with builds running: 171 ms predicted against a 300 ms limit,
 * 350 ms paused, the destination's confirmation alone 174 ms). So when the expected downtime fits
 * but takes more than {@link #HEADROOM} of the limit, and pre-copy is still shrinking it (the last
 * round cut it to under {@link #SHRINK} of the round before, or no earlier round fitted to compare
 * with), one more round is sent first; it costs about the expected downtime again in total time, with
 * the guest running. Each round that waits must shrink the expectation by a third or more, so the
 * wait ends within a few rounds; it never waits past the point where the deadline leaves fewer than
 * {@link #DEADLINE_ROUNDS} such rounds.
 */
public final class SwitchoverRule {
  /** The share of the limit under which a stop-and-copy begins at once. */
  public static final double HEADROOM = 0.5;
  /** A round that cut the expected downtime to less than this share of the round before was worth it. */
  public static final double SHRINK = 0.7;
  /** Rounds of the expected downtime's length that must be left before the deadline to wait for one. */
  static final int DEADLINE_ROUNDS = 4;

  private SwitchoverRule() {}

  /**
   * Whether to begin the stop-and-copy now, given that it fits the limit ({@link Progress#fitsDowntime()}).
   *
   * @param p the progress at the end of a round, whose expected downtime fits its limit
   * @param previousExpected the expected downtime at the end of the round before, or {@code null} when
   *     there was none that fitted
   */
  public static boolean switchNow(Progress p, Duration previousExpected) {
    Duration expected = p.expectedDowntime();
    if (expected.toNanos() <= p.downtimeLimit().toNanos() * HEADROOM) {
      return true;
    }
    if (p.hasDeadline()
        && p.deadline().minus(p.elapsed()).compareTo(expected.multipliedBy(DEADLINE_ROUNDS)) < 0) {
      return true;
    }
    return previousExpected != null && expected.toNanos() >= previousExpected.toNanos() * SHRINK;
  }

  /** Why the engine waits one more round, in words for its decision event. */
  public static String whyWait(Progress p) {
    return String.format(Locale.ROOT, "expected downtime %d ms fits the %d ms limit but uses more than %.0f %% of it;"
        + " one more round first, while pre-copy still shrinks it", p.expectedDowntime().toMillis(),
        p.downtimeLimit().toMillis(), HEADROOM * 100);
  }
}
