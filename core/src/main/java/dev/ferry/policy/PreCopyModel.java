package dev.ferry.policy;

import dev.ferry.Progress;
import java.time.Duration;
import java.util.Locale;

/**
 * A model of iterative pre-copy, to predict where it ends: used by the {@linkplain Predictive
 * predictive policy} every round and by the planner before a migration starts.
 *
 * <p>Design note. Akoush et al. (MASCOTS 2010) model pre-copy with a uniform dirty rate D over a
 * link of rate R: round i sends M·ρ^i with ρ = D/R, a geometric series that converges only if ρ &lt;
 * 1. Real guests also rewrite a hot working set over and over, so a round's dirty bytes do not fall
 * to zero but level off near it. This model joins the two: a round of length T leaves
 * <pre>  dirty(T) = min(M, W + c·T)</pre>
 * bytes to send, where W is the working set (dirtied in every round, however short) and c the
 * rate at which the guest dirties memory outside it. A round sends the last round's dirty bytes
 * at R, so it lasts T = max(r/R, minimum round), and the remaining bytes follow
 * <pre>  r' = W + (c/R)·r</pre>
 * whose fixed point is r* = W / (1 − c/R) when c &lt; R. Stop-and-copy then costs r/R plus a
 * fixed overhead (device state, round trips), and happens as soon as that fits the limit.
 *
 * <p>A vCPU throttle of θ % scales the guest's writes by (100 − θ) %, so W and c scale by
 * (100 − θ) / (100 − θ₀) from the throttle θ₀ at which they were measured. That is optimistic for a
 * working set that is rewritten many times per round (throttling it a little changes nothing);
 * the predictive policy re-plans every round from new measurements, which corrects it.
 *
 * <p>From a {@link Progress}: W is its {@code workingSet}; the round's length T is estimated as
 * {@code remaining / dirtyRate}; c is {@code (remaining − W)} over T, corrected for saturation:
 * writes spread over the F = M − W bytes outside the working set dirty F·(1 − e^(−cT/F)) distinct
 * bytes in T, so c = −ln(1 − (remaining − W)/F)·F/T, which is (remaining − W)/T when little of
 * memory was dirtied and more when much was (a long round 0 sees the same pages dirtied many
 * times). Immutable and thread-safe.
 *
 * @param memoryBytes the guest memory size M (what the first full round sends)
 * @param bandwidth the link rate R in bytes per second
 * @param workingSet the working set W in bytes, measured at {@code measuredThrottle}
 * @param coldRate the rate c in bytes per second at which memory outside W is dirtied, measured at
 *     {@code measuredThrottle}
 * @param measuredThrottle the throttle (0-99 %) during the measurement
 * @param overheadSeconds what a stop-and-copy costs besides sending the dirty bytes
 * @param minRoundSeconds the shortest a round can be (the engine's floor is 5 ms)
 */
public record PreCopyModel(
    double memoryBytes,
    double bandwidth,
    double workingSet,
    double coldRate,
    int measuredThrottle,
    double overheadSeconds,
    double minRoundSeconds) {

  /** The engine's shortest round: 5 ms. */
  public static final double MIN_ROUND_SECONDS = 0.005;
  /** A bandwidth that stands for "unlimited": 1 TB/s. */
  static final double FAST = 1e12;
  private static final int MAX_ROUNDS = 1000;

  public PreCopyModel {
    if (!(memoryBytes >= 0) || !(bandwidth > 0) || !(workingSet >= 0) || !(coldRate >= 0)
        || measuredThrottle < 0 || measuredThrottle > 99 || !(overheadSeconds >= 0) || !(minRoundSeconds >= 0)) {
      throw new IllegalArgumentException("invalid pre-copy model: memory " + memoryBytes + ", bandwidth "
          + bandwidth + ", working set " + workingSet + ", cold rate " + coldRate + ", throttle " + measuredThrottle
          + ", overhead " + overheadSeconds + ", min round " + minRoundSeconds);
    }
  }

  /** The model a progress sample implies (see the class note). */
  public static PreCopyModel of(Progress p) {
    double r = p.remaining().bytes();
    double bw = p.bandwidth().isUnlimited() ? FAST : Math.max(1, p.bandwidth().bytesPerSecond());
    double d = p.dirtyRateBytesPerSecond();
    double w = Math.min(p.workingSet().bytes(), r);
    double cold;
    if (d <= 0) {
      cold = 0;
      w = Math.min(w, r);
    } else if (r <= 0) {
      cold = d;
      w = 0;
    } else {
      double roundSeconds = r / d;
      // Distinct pages saturate: writes spread over a region of F bytes dirty F·(1 − e^(−cT/F)) of
      // it in T. Invert that, so that a long round (round 0 above all) that saw much of memory
      // dirtied does not understate the rate at which the short rounds at the end will dirty it.
      double region = Math.max(0, p.total().bytes() - w);
      double fraction = region <= 0 ? 0 : Math.min(0.999, (r - w) / region);
      cold = fraction <= 0 ? 0 : -Math.log1p(-fraction) * region / roundSeconds;
    }
    double overhead = Math.max(0, seconds(p.expectedDowntime()) - r / bw);
    if (p.bandwidth().isUnlimited()) {
      overhead = Math.min(overhead, seconds(p.expectedDowntime()));
    }
    return new PreCopyModel(p.total().bytes(), bw, w, cold, clampThrottle(p.throttlePercent()), overhead,
        MIN_ROUND_SECONDS);
  }

  /** The same model on another link rate (bytes per second). */
  public PreCopyModel withBandwidth(double bytesPerSecond) {
    return new PreCopyModel(memoryBytes, bytesPerSecond, workingSet, coldRate, measuredThrottle, overheadSeconds,
        minRoundSeconds);
  }

  /** The working set at a throttle of {@code throttle} %, in bytes. */
  public double workingSetAt(int throttle) {
    return workingSet * scale(throttle);
  }

  /** The cold dirty rate at a throttle of {@code throttle} %, in bytes per second. */
  public double coldRateAt(int throttle) {
    return coldRate * scale(throttle);
  }

  /**
   * Where remaining bytes level off at this throttle: W / (1 − c/R), or infinity when c ≥ R (pre-copy
   * never converges then).
   */
  public double fixedPoint(int throttle) {
    double rho = coldRateAt(throttle) / bandwidth;
    if (rho >= 1) {
      return Double.POSITIVE_INFINITY;
    }
    return Math.min(memoryBytes, workingSetAt(throttle) / (1 - rho));
  }

  /**
   * Runs pre-copy forward at a fixed throttle from {@code remainingBytes} still to send, until the
   * expected downtime fits {@code downtimeLimit}, the rounds stop shrinking, or {@code timeBudget}
   * is used up ({@link Duration#ZERO} for no budget).
   */
  public Forecast forecast(double remainingBytes, int throttle, Duration downtimeLimit, Duration timeBudget) {
    double limit = seconds(downtimeLimit);
    double budget = timeBudget.isZero() ? Double.POSITIVE_INFINITY : seconds(timeBudget);
    double s = scale(throttle);
    double w = workingSet * s;
    double c = coldRate * s;
    double r = Math.max(0, remainingBytes);
    double t = 0;
    double bytes = 0;
    int rounds = 0;
    int flat = 0;
    while (true) {
      double downtime = r / bandwidth + overheadSeconds;
      if (downtime <= limit) {
        return new Forecast(t + downtime <= budget, rounds, t, downtime, bytes + r, r, throttle);
      }
      double round = Math.max(r / bandwidth, minRoundSeconds);
      if (t + round > budget || rounds >= MAX_ROUNDS) {
        return new Forecast(false, rounds, t, downtime, bytes + r, r, throttle);
      }
      t += round;
      bytes += r;
      rounds++;
      double next = Math.min(memoryBytes, w + c * round);
      // Levelled off: a round that shrinks the rest by less than 0.1 % (three times in a row) will
      // never bring it under the limit.
      flat = next >= r * 0.999 ? flat + 1 : 0;
      r = next;
      if (flat >= 3) {
        return new Forecast(false, rounds, t, r / bandwidth + overheadSeconds, bytes + r, r, throttle);
      }
    }
  }

  private double scale(int throttle) {
    return (100.0 - clampThrottle(throttle)) / (100.0 - measuredThrottle);
  }

  static int clampThrottle(int t) {
    return Math.max(0, Math.min(99, t));
  }

  static double seconds(Duration d) {
    return d.getSeconds() + d.getNano() / 1e9;
  }

  static Duration duration(double seconds) {
    if (!(seconds < 1e9)) {
      return Duration.ofSeconds(1_000_000_000L);
    }
    return Duration.ofNanos((long) (Math.max(0, seconds) * 1e9));
  }

  @Override
  public String toString() {
    return String.format(Locale.ROOT,
        "PreCopyModel[M=%.0f MiB, R=%.1f MB/s, W=%.1f MiB, c=%.1f MB/s at %d %%, overhead %.0f ms]",
        memoryBytes / (1 << 20), bandwidth / 1e6, workingSet / (1 << 20), coldRate / 1e6, measuredThrottle,
        overheadSeconds * 1e3);
  }

  /**
   * What the model predicts from one starting point.
   *
   * @param converges whether the expected downtime comes under the limit within the time budget
   * @param rounds further pre-copy rounds before stop-and-copy
   * @param preCopySeconds time those rounds take
   * @param downtimeSeconds the stop-and-copy's expected pause, at the end (or where it levels off)
   * @param bytes bytes still to send, stop-and-copy included
   * @param finalRemaining bytes left for stop-and-copy (or where they level off)
   * @param throttle the throttle assumed
   */
  public record Forecast(boolean converges, int rounds, double preCopySeconds, double downtimeSeconds,
      double bytes, double finalRemaining, int throttle) {

    /** Time until the guest runs on the destination: pre-copy, then the pause. */
    public double totalSeconds() {
      return preCopySeconds + downtimeSeconds;
    }

    public Duration total() {
      return duration(totalSeconds());
    }

    public Duration downtime() {
      return duration(downtimeSeconds);
    }

    @Override
    public String toString() {
      return String.format(Locale.ROOT, "%s after %d more round(s) in %.2f s, downtime %.0f ms, %.1f MiB to send%s",
          converges ? "converges" : "does not converge", rounds, preCopySeconds, downtimeSeconds * 1e3,
          bytes / (1 << 20), throttle > 0 ? " at " + throttle + " % throttle" : "");
    }
  }
}
