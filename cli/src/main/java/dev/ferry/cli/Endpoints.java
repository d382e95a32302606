package dev.ferry.cli;

import dev.ferry.MigrationTarget;
import java.net.InetSocketAddress;

/** Addresses as a command line gives them: {@code HOST:PORT}, {@code [::1]:PORT}. Stateless and thread-safe. */
public final class Endpoints {
  private Endpoints() {}

  /** Whether {@code text} is a URI ({@code scheme://...}) rather than {@code HOST:PORT}. */
  public static boolean isUri(String text) {
    return text.contains("://") || text.startsWith("qemu:") || text.startsWith("test:");
  }

  /** Parses {@code HOST:PORT} (port 0: any free port, where listening). */
  public static InetSocketAddress address(String hostPort) {
    int colon = hostPort.lastIndexOf(':');
    if (colon <= 0 || colon == hostPort.length() - 1) {
      throw new IllegalArgumentException("expected HOST:PORT, got '" + hostPort + "'");
    }
    String host = hostPort.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    int port;
    try {
      port = Integer.parseInt(hostPort.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("expected HOST:PORT, got '" + hostPort + "'");
    }
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("port out of range in '" + hostPort + "'");
    }
    return new InetSocketAddress(host, port);
  }

  /** A receiver at {@code HOST:PORT}, with no token (add one with {@link MigrationTarget#withToken}). */
  public static MigrationTarget target(String hostPort) {
    return new MigrationTarget(address(hostPort), "");
  }
}
