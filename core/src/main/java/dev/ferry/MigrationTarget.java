package dev.ferry;

import java.net.InetSocketAddress;
import java.util.Objects;

/**
 * Where to send a migration: the address of a {@link MigrationReceiver} and, when the receiver
 * requires one, the shared token that authenticates the source.
 *
 * @param address the receiver's address
 * @param token the shared secret the receiver expects; empty when it requires none
 */
public record MigrationTarget(InetSocketAddress address, String token) {
  public MigrationTarget {
    Objects.requireNonNull(address, "address");
    Objects.requireNonNull(token, "token");
  }

  /** A target at {@code host:port} that needs no token. */
  public static MigrationTarget of(String host, int port) {
    return new MigrationTarget(new InetSocketAddress(host, port), "");
  }

  /** The same target with a token. */
  public MigrationTarget withToken(String token) {
    return new MigrationTarget(address, token);
  }

  @Override
  public String toString() {
    return "MigrationTarget[" + address.getHostString() + ":" + address.getPort()
        + (token.isEmpty() ? "" : ", token=***") + "]";
  }
}
