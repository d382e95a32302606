package dev.ferry.cli;

import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import java.time.Duration;
import java.util.Locale;
import picocli.CommandLine.ITypeConverter;

/**
 * Durations, sizes and bandwidths as people write them on a command line (300ms, 2s, 5m; 1GiB;
 * 200MB/s or unlimited), and the picocli converters that let options be typed by them. Stateless
 * and thread-safe.
 */
public final class Units {
  private Units() {}

  /** Parses 300ms, 2s, 5m or 1h. */
  public static Duration duration(String text) {
    String t = text.trim().toLowerCase(Locale.ROOT);
    try {
      if (t.endsWith("ms")) {
        return Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2).trim()));
      }
      if (t.endsWith("s")) {
        return Duration.ofSeconds(Long.parseLong(t.substring(0, t.length() - 1).trim()));
      }
      if (t.endsWith("m")) {
        return Duration.ofMinutes(Long.parseLong(t.substring(0, t.length() - 1).trim()));
      }
      if (t.endsWith("h")) {
        return Duration.ofHours(Long.parseLong(t.substring(0, t.length() - 1).trim()));
      }
    } catch (NumberFormatException e) {
      // fall through to the error below
    }
    throw new IllegalArgumentException("not a duration: '" + text + "' (use e.g. 300ms, 2s, 5m)");
  }

  /** Parses 200MB/s, 1GB/s, 500kB/s (decimal units) or unlimited. */
  public static Bandwidth bandwidth(String text) {
    String t = text.trim();
    if (t.equalsIgnoreCase("unlimited")) {
      return Bandwidth.UNLIMITED;
    }
    String lower = t.toLowerCase(Locale.ROOT);
    if (lower.endsWith("/s")) {
      lower = lower.substring(0, lower.length() - 2);
    }
    long factor;
    if (lower.endsWith("gb")) {
      factor = 1_000_000_000L;
    } else if (lower.endsWith("mb")) {
      factor = 1_000_000L;
    } else if (lower.endsWith("kb")) {
      factor = 1_000L;
    } else {
      throw new IllegalArgumentException("bandwidth '" + text + "': use e.g. 200MB/s, 1GB/s or unlimited");
    }
    double n;
    try {
      n = Double.parseDouble(lower.substring(0, lower.length() - 2).trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("bandwidth '" + text + "': use e.g. 200MB/s, 1GB/s or unlimited");
    }
    if (!(n > 0)) {
      throw new IllegalArgumentException("bandwidth must be positive: '" + text + "'");
    }
    return Bandwidth.bytesPerSecond((long) (n * factor));
  }

  /** Picocli converter of {@link #duration}. */
  public static final class DurationConverter implements ITypeConverter<Duration> {
    @Override
    public Duration convert(String value) {
      return duration(value);
    }
  }

  /** Picocli converter of {@link #bandwidth}. */
  public static final class BandwidthConverter implements ITypeConverter<Bandwidth> {
    @Override
    public Bandwidth convert(String value) {
      return bandwidth(value);
    }
  }

  /** Picocli converter of {@link DataSize#parse}. */
  public static final class SizeConverter implements ITypeConverter<DataSize> {
    @Override
    public DataSize convert(String value) {
      return DataSize.parse(value);
    }
  }
}
