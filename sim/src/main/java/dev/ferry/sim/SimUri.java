package dev.ferry.sim;

import dev.ferry.spi.DataSize;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/**
 * A parsed {@code sim://<host>[?memory=64GiB&cpu=sim-x86&features=sse4,avx2]} URI. Immutable.
 *
 * @param host the host name, lower-case
 * @param memory the {@code memory} parameter, if given
 * @param cpuModel the {@code cpu} parameter, if given
 * @param features the {@code features} parameter (comma-separated, may be empty), if given
 */
record SimUri(String host, Optional<DataSize> memory, Optional<String> cpuModel, Optional<Set<String>> features) {
  static final String SCHEME = "sim";
  private static final String FORM = "sim://<host>[?memory=<size>&cpu=<model>&features=<a,b>]";

  /**
   * Parses a sim URI.
   *
   * @throws IllegalArgumentException naming the part that is wrong
   */
  static SimUri parse(URI uri) {
    if (uri.getScheme() == null || !uri.getScheme().equalsIgnoreCase(SCHEME)) {
      throw new IllegalArgumentException("not a sim URI (scheme is " + uri.getScheme() + "): " + uri);
    }
    if (uri.isOpaque()) {
      throw new IllegalArgumentException("sim URI must look like " + FORM + ", got " + uri + " (missing '//')");
    }
    if (uri.getHost() == null) {
      String authority = uri.getRawAuthority();
      if (authority == null || authority.isEmpty()) {
        throw new IllegalArgumentException("sim URI has no host: " + uri + "; expected " + FORM);
      }
      throw new IllegalArgumentException("invalid host '" + authority + "' in sim URI " + uri
          + ": use letters, digits, dots and hyphens");
    }
    if (uri.getRawUserInfo() != null) {
      throw new IllegalArgumentException("sim URI must not have user info '" + uri.getRawUserInfo() + "': " + uri);
    }
    if (uri.getPort() != -1) {
      throw new IllegalArgumentException("sim URI must not have a port (" + uri.getPort() + "): " + uri);
    }
    if (uri.getRawPath() != null && !uri.getRawPath().isEmpty()) {
      throw new IllegalArgumentException("sim URI must not have a path ('" + uri.getRawPath() + "'): " + uri
          + "; expected " + FORM);
    }
    if (uri.getRawFragment() != null) {
      throw new IllegalArgumentException("sim URI must not have a fragment ('#" + uri.getRawFragment() + "'): " + uri);
    }
    String host = SimHost.normalise(uri.getHost());
    DataSize memory = null;
    String cpu = null;
    Set<String> features = null;
    Set<String> seen = new HashSet<>();
    String query = uri.getRawQuery();
    if (query != null && !query.isEmpty()) {
      for (String part : query.split("&", -1)) {
        int eq = part.indexOf('=');
        if (part.isEmpty() || eq <= 0) {
          throw new IllegalArgumentException("malformed query parameter '" + part + "' in sim URI " + uri
              + ": expected key=value");
        }
        String key = decode(part.substring(0, eq)).toLowerCase(Locale.ROOT);
        String value = decode(part.substring(eq + 1)).trim();
        if (!seen.add(key)) {
          throw new IllegalArgumentException("query parameter '" + key + "' given twice in sim URI " + uri);
        }
        switch (key) {
          case "memory":
            try {
              memory = DataSize.parse(value);
            } catch (IllegalArgumentException e) {
              throw new IllegalArgumentException("bad value '" + value + "' for query parameter 'memory' in sim URI "
                  + uri + ": " + e.getMessage(), e);
            }
            if (memory.bytes() == 0) {
              throw new IllegalArgumentException("query parameter 'memory' must be positive in sim URI " + uri);
            }
            break;
          case "cpu":
            if (value.isEmpty() || !value.matches("[A-Za-z0-9._-]+")) {
              throw new IllegalArgumentException("bad value '" + value + "' for query parameter 'cpu' in sim URI "
                  + uri + ": a CPU model name such as sim-x86");
            }
            cpu = value;
            break;
          case "features":
            features = new LinkedHashSet<>();
            if (!value.isEmpty()) {
              for (String f : value.split(",", -1)) {
                String t = f.trim();
                if (!t.matches("[A-Za-z0-9._-]+")) {
                  throw new IllegalArgumentException("bad feature '" + f + "' in query parameter 'features' of sim URI "
                      + uri + ": comma-separated names such as sse4,avx2");
                }
                features.add(t);
              }
            }
            break;
          default:
            throw new IllegalArgumentException("unknown query parameter '" + key + "' in sim URI " + uri
                + "; known: " + Arrays.asList("memory", "cpu", "features"));
        }
      }
    }
    return new SimUri(host, Optional.ofNullable(memory), Optional.ofNullable(cpu),
        Optional.ofNullable(features == null ? null : Set.copyOf(features)));
  }

  private static String decode(String s) {
    try {
      return URLDecoder.decode(s, StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("bad percent-encoding '" + s + "' in sim URI query", e);
    }
  }
}
