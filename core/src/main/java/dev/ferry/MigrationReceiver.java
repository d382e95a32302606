package dev.ferry;

import java.net.InetSocketAddress;

/**
 * The destination's side of engine-driven migrations: listens on an address, accepts incoming
 * migrations from authenticated sources, creates the incoming VM on its host, writes the pages it
 * receives into it and activates it at switchover. Each migration runs on its own thread; a
 * malformed or hostile stream ends that migration alone.
 *
 * <p>Thread-safe. {@link #close()} stops accepting and ends the migrations under way, discarding
 * their incoming VMs.
 */
public interface MigrationReceiver extends AutoCloseable {

  /** The address it listens on (with the real port when it was asked for port 0). */
  InetSocketAddress address();

  /** The target to give a source so that it sends its migration here. */
  MigrationTarget target();

  /** Number of migrations being received now. */
  int activeMigrations();

  @Override
  void close();
}
