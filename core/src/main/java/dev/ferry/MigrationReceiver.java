package dev.ferry;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;

/**
 * The destination's side of engine-driven migrations: listens on an address, accepts incoming
 * migrations from authenticated sources, creates the incoming VM on its host, writes the pages it
 * receives into it and activates it at switchover. Each migration runs on its own thread; a
 * malformed or hostile stream ends that migration alone. Its bounds and timeouts are those of its
 * {@link ReceiverOptions}.
 *
 * <p>A guest that runs here in post-copy needs the source's pages until post-copy completes: until
 * then the receiver's threads keep the JVM alive, {@link #received()} does not list it as arrived,
 * and {@link #close()} waits for it.
 *
 * <p>Thread-safe. {@link #close()} stops accepting and ends the migrations under way before their
 * switchover, discarding their incoming VMs.
 */
public interface MigrationReceiver extends AutoCloseable {

  /** The address it listens on (with the real port when it was asked for port 0). */
  InetSocketAddress address();

  /** The target to give a source so that it sends its migration here. */
  MigrationTarget target();

  /** Number of migrations being received now, post-copies included. */
  int activeMigrations();

  /** The incoming migrations that ended here, oldest first (at most the last 256). */
  List<ReceivedMigration> received();

  /**
   * Waits until {@code count} incoming migrations have ended here in all (see {@link #received()}),
   * or the timeout passes.
   *
   * @return whether they had
   */
  boolean awaitReceived(int count, Duration timeout) throws InterruptedException;

  @Override
  void close();
}
