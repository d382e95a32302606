package dev.ferry.report;

import java.util.Locale;

/** Escaping and the figures' text forms, shared by the page and its charts. */
final class Html {
  private Html() {}

  /** Text made safe inside HTML or SVG, in element content and in quoted attributes. */
  static String escape(String s) {
    StringBuilder out = new StringBuilder(s.length() + 16);
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '<' -> out.append("&lt;");
        case '>' -> out.append("&gt;");
        case '&' -> out.append("&amp;");
        case '"' -> out.append("&quot;");
        case '\'' -> out.append("&#39;");
        default -> {
          if (c < 0x20 && c != '\n' && c != '\t') {
            out.append(' ');
          } else {
            out.append(c);
          }
        }
      }
    }
    return out.toString();
  }

  /** Bytes in binary units: "512 B", "3.5 KiB", "16.0 MiB", "1.25 GiB". */
  static String bytes(double b) {
    if (b < 1024) {
      return String.format(Locale.ROOT, "%.0f B", b);
    } else if (b < 1024 * 1024) {
      return String.format(Locale.ROOT, "%.1f KiB", b / 1024);
    } else if (b < 1024.0 * 1024 * 1024) {
      return String.format(Locale.ROOT, "%.1f MiB", b / (1024 * 1024));
    }
    return String.format(Locale.ROOT, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  }

  /** A rate in decimal units, as links are quoted: "80.0 MB/s". */
  static String rate(double bytesPerSecond) {
    if (bytesPerSecond < 1e6) {
      return String.format(Locale.ROOT, "%.0f kB/s", bytesPerSecond / 1e3);
    } else if (bytesPerSecond < 1e9) {
      return String.format(Locale.ROOT, "%.1f MB/s", bytesPerSecond / 1e6);
    }
    return String.format(Locale.ROOT, "%.2f GB/s", bytesPerSecond / 1e9);
  }

  /** Milliseconds: "0.42 ms", "66 ms", "1.52 s". */
  static String millis(double ms) {
    if (ms == 0) {
      return "0";
    } else if (ms < 10) {
      return String.format(Locale.ROOT, "%.2f ms", ms);
    } else if (ms < 1000) {
      return String.format(Locale.ROOT, "%.0f ms", ms);
    }
    return String.format(Locale.ROOT, "%.2f s", ms / 1000);
  }

  /** A count with thousands separators. */
  static String count(double n) {
    return String.format(Locale.ROOT, "%,.0f", n);
  }
}
