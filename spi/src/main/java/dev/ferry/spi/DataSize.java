package dev.ferry.spi;

/**
 * An amount of data in bytes. Never negative.
 *
 * <p>Binary units ({@link #kib}, {@link #mib}, {@link #gib}) are powers of 1024, as guest memory
 * is sized; {@link #toString()} prints the largest binary unit that keeps the value readable.
 */
public record DataSize(long bytes) implements Comparable<DataSize> {
  public static final DataSize ZERO = new DataSize(0);

  public DataSize {
    if (bytes < 0) {
      throw new IllegalArgumentException("data size must not be negative: " + bytes + " bytes");
    }
  }

  public static DataSize bytes(long bytes) {
    return new DataSize(bytes);
  }

  public static DataSize kib(long kib) {
    return new DataSize(Math.multiplyExact(kib, 1024L));
  }

  public static DataSize mib(long mib) {
    return new DataSize(Math.multiplyExact(mib, 1024L * 1024));
  }

  public static DataSize gib(long gib) {
    return new DataSize(Math.multiplyExact(gib, 1024L * 1024 * 1024));
  }

  /**
   * Parses sizes such as {@code "512MiB"}, {@code "1g"}, {@code "4096"} (bytes), {@code "64k"}.
   * Single-letter and {@code iB} suffixes are binary; {@code B} alone means bytes.
   *
   * @throws IllegalArgumentException with the offending text when it does not parse
   */
  public static DataSize parse(String text) {
    String t = text.trim().toLowerCase(java.util.Locale.ROOT);
    int i = 0;
    while (i < t.length() && Character.isDigit(t.charAt(i))) {
      i++;
    }
    if (i == 0) {
      throw new IllegalArgumentException("not a data size: '" + text + "' (try 512MiB, 1GiB, 4096)");
    }
    long n;
    try {
      n = Long.parseLong(t.substring(0, i));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("data size out of range: '" + text + "'", e);
    }
    String unit = t.substring(i).trim();
    switch (unit) {
      case "":
      case "b":
        return bytes(n);
      case "k":
      case "kb":
      case "kib":
        return kib(n);
      case "m":
      case "mb":
      case "mib":
        return mib(n);
      case "g":
      case "gb":
      case "gib":
        return gib(n);
      case "t":
      case "tb":
      case "tib":
        return new DataSize(Math.multiplyExact(n, 1L << 40));
      default:
        throw new IllegalArgumentException("unknown unit '" + unit + "' in data size '" + text + "'");
    }
  }

  /** Size in whole pages of {@code pageSize} bytes, rounded up. */
  public long pages(int pageSize) {
    if (pageSize <= 0) {
      throw new IllegalArgumentException("page size must be positive: " + pageSize);
    }
    return (bytes + pageSize - 1) / pageSize;
  }

  public DataSize plus(DataSize other) {
    return new DataSize(Math.addExact(bytes, other.bytes));
  }

  @Override
  public int compareTo(DataSize o) {
    return Long.compare(bytes, o.bytes);
  }

  @Override
  public String toString() {
    String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (u < units.length - 1 && bytes >= 1024L << (10 * u)) {
      u++;
    }
    if (u == 0) {
      return bytes + " B";
    }
    long unit = 1L << (10 * u);
    if (bytes % unit == 0) {
      return (bytes / unit) + " " + units[u];
    }
    return String.format(java.util.Locale.ROOT, "%.1f %s", (double) bytes / unit, units[u]);
  }
}
