package dev.ferry.cli;

import dev.ferry.Ferry;
import dev.ferry.FerryTls;
import dev.ferry.Host;
import dev.ferry.MigrationTarget;
import java.io.IOException;

/**
 * Where a command sends a migration (or measures the link to): a host URI, opened in this process
 * and received on loopback, or {@code HOST:PORT} of a remote receiver, reached with the token and
 * TLS of {@link SecurityOptions}. Closing it closes the host it opened. Not thread-safe.
 */
final class Destination implements AutoCloseable {
  private final String text;
  private final Host host;
  private final MigrationTarget target;
  private final FerryTls tls;

  private Destination(String text, Host host, MigrationTarget target, FerryTls tls) {
    this.text = text;
    this.host = host;
    this.target = target;
    this.tls = tls;
  }

  /** Opens {@code text}: a host URI, or {@code HOST:PORT} with {@code security}'s token and TLS. */
  static Destination open(String text, SecurityOptions security) throws IOException {
    if (Endpoints.isUri(text)) {
      Host h = Ferry.connect(text);
      return new Destination(text, h, h.target(), null);
    }
    return new Destination(text, null, Endpoints.target(text).withToken(security.token(System.getenv())),
        security.tls());
  }

  MigrationTarget target() {
    return target;
  }

  /** The TLS to give the migration's options: the remote receiver's, none for a host of this process. */
  FerryTls tls() {
    return tls;
  }

  @Override
  public void close() {
    if (host != null) {
      host.close();
    }
    SimHosts.destroy(text);
  }
}
