package dev.ferry.spi;

import java.time.Duration;

/**
 * A data rate in bytes per second. Never negative. {@link #UNLIMITED} means no limit.
 *
 * <p>Decimal units ({@link #mbps}: 10^6 bytes/s; {@link #gbps}: 10^9 bytes/s) follow how links
 * are quoted; {@link #mibps} is binary, as QEMU's and libvirt's bandwidth settings are.
 */
public record Bandwidth(long bytesPerSecond) implements Comparable<Bandwidth> {
  /** No limit. */
  public static final Bandwidth UNLIMITED = new Bandwidth(Long.MAX_VALUE);

  public Bandwidth {
    if (bytesPerSecond < 0) {
      throw new IllegalArgumentException("bandwidth must not be negative: " + bytesPerSecond + " B/s");
    }
  }

  public static Bandwidth bytesPerSecond(long bps) {
    return new Bandwidth(bps);
  }

  /** Megabytes (10^6 bytes) per second. */
  public static Bandwidth mbps(long mb) {
    return new Bandwidth(Math.multiplyExact(mb, 1_000_000L));
  }

  /** Gigabytes (10^9 bytes) per second. */
  public static Bandwidth gbps(long gb) {
    return new Bandwidth(Math.multiplyExact(gb, 1_000_000_000L));
  }

  /** Mebibytes (2^20 bytes) per second, the unit of libvirt's and QEMU's bandwidth limits. */
  public static Bandwidth mibps(long mib) {
    return new Bandwidth(Math.multiplyExact(mib, 1L << 20));
  }

  /** The rate of {@code bytes} moved in {@code elapsed}; zero elapsed gives {@link #UNLIMITED}. */
  public static Bandwidth of(long bytes, Duration elapsed) {
    long nanos = elapsed.toNanos();
    if (nanos <= 0) {
      return UNLIMITED;
    }
    return new Bandwidth((long) (bytes * 1e9 / nanos));
  }

  public boolean isUnlimited() {
    return bytesPerSecond == Long.MAX_VALUE;
  }

  /** The time this rate needs to move {@code bytes}; zero when unlimited or for zero bytes. */
  public Duration timeFor(long bytes) {
    if (isUnlimited() || bytes == 0) {
      return Duration.ZERO;
    }
    if (bytesPerSecond == 0) {
      return Duration.ofSeconds(Long.MAX_VALUE / 2);
    }
    return Duration.ofNanos((long) (bytes * 1e9 / bytesPerSecond));
  }

  @Override
  public int compareTo(Bandwidth o) {
    return Long.compare(bytesPerSecond, o.bytesPerSecond);
  }

  @Override
  public String toString() {
    if (isUnlimited()) {
      return "unlimited";
    }
    if (bytesPerSecond >= 1_000_000_000L) {
      return String.format(java.util.Locale.ROOT, "%.2f GB/s", bytesPerSecond / 1e9);
    }
    if (bytesPerSecond >= 1_000_000L) {
      return String.format(java.util.Locale.ROOT, "%.1f MB/s", bytesPerSecond / 1e6);
    }
    return bytesPerSecond + " B/s";
  }
}
