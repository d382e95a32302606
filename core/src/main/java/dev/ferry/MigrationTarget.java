package dev.ferry;

import java.net.InetSocketAddress;
import java.net.URI;
import java.util.Objects;
import java.util.Optional;

/**
 * Where to send a migration: the address of a {@link MigrationReceiver} and, when the receiver
 * requires one, the shared token that authenticates the source; and, for VMs their hypervisor
 * migrates itself (libvirt), the destination host's URI.
 *
 * <p>{@link Host#target()} fills in both: the engine-driven plane sends pages to the address, the
 * hypervisor-driven plane hands the host URI to the hypervisor (libvirt connects there itself).
 *
 * @param address the receiver's address
 * @param token the shared secret the receiver expects; empty when it requires none
 * @param hostUri the destination host's URI, as {@link Ferry#connect} opened it; needed only by
 *     hypervisor-driven migrations
 */
public record MigrationTarget(InetSocketAddress address, String token, Optional<URI> hostUri) {
  public MigrationTarget {
    Objects.requireNonNull(address, "address");
    Objects.requireNonNull(token, "token");
    Objects.requireNonNull(hostUri, "hostUri");
  }

  /** A target without a host URI: for engine-driven migrations only. */
  public MigrationTarget(InetSocketAddress address, String token) {
    this(address, token, Optional.empty());
  }

  /** The same target with the destination host's URI, for hypervisor-driven migrations. */
  public MigrationTarget withHostUri(URI uri) {
    return new MigrationTarget(address, token, Optional.of(uri));
  }

  /** A target at {@code host:port} that needs no token. */
  public static MigrationTarget of(String host, int port) {
    return new MigrationTarget(new InetSocketAddress(host, port), "");
  }

  /** The same target with a token. */
  public MigrationTarget withToken(String token) {
    return new MigrationTarget(address, token, hostUri);
  }

  @Override
  public String toString() {
    return "MigrationTarget[" + address.getHostString() + ":" + address.getPort()
        + (token.isEmpty() ? "" : ", token=***") + hostUri.map(u -> ", host=" + u).orElse("") + "]";
  }
}
