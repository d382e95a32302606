package dev.ferry.sim;

import java.util.Locale;
import java.util.Objects;

/**
 * What the vCPUs of a simulated VM do: which pages they write and how fast.
 *
 * <p>The rate is the total for the VM, in page writes per second, shared evenly by its vCPUs;
 * {@link #MAX_RATE} means "as fast as the vCPU threads can", for stress tests. Which pages are
 * written follows a seeded generator ({@link WorkloadCursor}), so a run can be repeated.
 *
 * <ul>
 *   <li>{@link Kind#IDLE}: writes nothing; the vCPU threads sleep and cost no CPU.
 *   <li>{@link Kind#UNIFORM}: each write picks a page uniformly at random.
 *   <li>{@link Kind#HOT_SET}: a contiguous {@code hotFraction} of the pages (at a seeded place)
 *       receives {@code hotShare} of the writes; the rest are uniform over the other pages.
 *   <li>{@link Kind#SEQUENTIAL}: each vCPU scans memory page after page from its own start,
 *       wrapping around.
 *   <li>{@link Kind#MIXED}: half the writes go to a hot set, 30 % are uniform, 20 % sequential.
 * </ul>
 *
 * @param kind the access pattern
 * @param pagesPerSecond total page writes per second over all vCPUs, positive ({@link #MAX_RATE}
 *     for no limit); 0 for {@link Kind#IDLE}
 * @param hotFraction share of the pages in the hot set, in (0, 1] (used by HOT_SET and MIXED)
 * @param hotShare share of the hot-set writes that go to the hot set, in [0, 1]
 */
public record Workload(Kind kind, long pagesPerSecond, double hotFraction, double hotShare) {
  /** The rate meaning "as fast as possible". */
  public static final long MAX_RATE = Long.MAX_VALUE;
  /** Default share of pages in a hot set: 10 %. */
  public static final double DEFAULT_HOT_FRACTION = 0.10;
  /** Default share of writes that hit the hot set: 90 %. */
  public static final double DEFAULT_HOT_SHARE = 0.90;

  private static final Workload IDLE = new Workload(Kind.IDLE, 0, DEFAULT_HOT_FRACTION, DEFAULT_HOT_SHARE);

  /** Access patterns. */
  public enum Kind { IDLE, UNIFORM, HOT_SET, SEQUENTIAL, MIXED }

  public Workload {
    Objects.requireNonNull(kind, "kind");
    if (kind == Kind.IDLE) {
      if (pagesPerSecond != 0) {
        throw new IllegalArgumentException("an idle workload has no write rate: " + pagesPerSecond);
      }
    } else if (pagesPerSecond <= 0) {
      throw new IllegalArgumentException("write rate must be positive pages per second (or Workload.MAX_RATE): "
          + pagesPerSecond);
    }
    if (!(hotFraction > 0 && hotFraction <= 1)) {
      throw new IllegalArgumentException("hot fraction must be in (0, 1]: " + hotFraction);
    }
    if (!(hotShare >= 0 && hotShare <= 1)) {
      throw new IllegalArgumentException("hot share must be in [0, 1]: " + hotShare);
    }
  }

  /** No writes at all. */
  public static Workload idle() {
    return IDLE;
  }

  /** Uniformly random page writes at {@code pagesPerSecond} in total. */
  public static Workload uniform(long pagesPerSecond) {
    return new Workload(Kind.UNIFORM, pagesPerSecond, DEFAULT_HOT_FRACTION, DEFAULT_HOT_SHARE);
  }

  /** 90 % of {@code pagesPerSecond} writes to 10 % of the pages, the rest uniform. */
  public static Workload hotSet(long pagesPerSecond) {
    return hotSet(pagesPerSecond, DEFAULT_HOT_FRACTION, DEFAULT_HOT_SHARE);
  }

  /** {@code hotShare} of the writes to {@code hotFraction} of the pages, the rest uniform. */
  public static Workload hotSet(long pagesPerSecond, double hotFraction, double hotShare) {
    return new Workload(Kind.HOT_SET, pagesPerSecond, hotFraction, hotShare);
  }

  /** A sequential scan at {@code pagesPerSecond}. */
  public static Workload sequential(long pagesPerSecond) {
    return new Workload(Kind.SEQUENTIAL, pagesPerSecond, DEFAULT_HOT_FRACTION, DEFAULT_HOT_SHARE);
  }

  /** The mixed profile (hot set, uniform and sequential writes) at {@code pagesPerSecond}. */
  public static Workload mixed(long pagesPerSecond) {
    return new Workload(Kind.MIXED, pagesPerSecond, DEFAULT_HOT_FRACTION, DEFAULT_HOT_SHARE);
  }

  /** Whether the rate is {@link #MAX_RATE}. */
  public boolean isUnlimited() {
    return pagesPerSecond == MAX_RATE;
  }

  /** The same pattern at another rate. */
  public Workload withRate(long pagesPerSecond) {
    return new Workload(kind, pagesPerSecond, hotFraction, hotShare);
  }

  @Override
  public String toString() {
    if (kind == Kind.IDLE) {
      return "idle";
    }
    String rate = isUnlimited() ? "max" : pagesPerSecond + " pages/s";
    String name = kind.name().toLowerCase(Locale.ROOT).replace('_', '-');
    if (kind == Kind.HOT_SET || kind == Kind.MIXED) {
      return String.format(Locale.ROOT, "%s(%s, %.0f%% of pages get %.0f%% of writes)", name, rate,
          hotFraction * 100, hotShare * 100);
    }
    return name + "(" + rate + ")";
  }
}
