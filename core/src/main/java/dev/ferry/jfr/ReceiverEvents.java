package dev.ferry.jfr;

import dev.ferry.ReceivedMigration;

/**
 * The destination's Flight Recorder event, {@code dev.ferry.IncomingMigration}: committed by the
 * receiver each time an incoming migration ends, unless
 * {@link dev.ferry.ReceiverOptions#flightRecorder()} is off. Thread-safe (stateless).
 */
public final class ReceiverEvents {
  private ReceiverEvents() {}

  /** Commits the event for {@code r}, received by {@code host}, if a recording enables it. */
  public static void ended(String host, ReceivedMigration r) {
    Events.IncomingMigration e = new Events.IncomingMigration();
    if (e.shouldCommit()) {
      e.vm = r.vmName();
      e.host = host;
      e.outcome = r.outcome().name();
      e.detail = r.detail();
      e.time = r.duration().toNanos();
      e.commit();
    }
  }
}
