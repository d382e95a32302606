package dev.ferry.engine;

import dev.ferry.MigrationOptions;
import dev.ferry.MigrationTarget;
import dev.ferry.jfr.FlightRecorderListener;
import dev.ferry.spi.HostInfo;
import dev.ferry.spi.VmDescription;

/**
 * Adds the Flight Recorder listener to a source-side session, and commits the receiver's event,
 * when the options ask for it (the default) and the runtime has the {@code jdk.jfr} module. The check for the module is made here,
 * by name, so that no class of {@code dev.ferry.jfr} is loaded in a runtime without it.
 */
final class FlightRecording {
  private static final boolean AVAILABLE = ModuleLayer.boot().findModule("jdk.jfr").isPresent();

  private FlightRecording() {}

  /** The destination as the events name it: the receiver's address, then the host's URI when there is one. */
  static String destination(MigrationTarget target) {
    return target.address().getHostString() + ":" + target.address().getPort()
        + target.hostUri().map(u -> " (" + u + ")").orElse("");
  }

  static void attach(Session session, String migrationId, HostInfo source, VmDescription vm, String destination,
      String plane, MigrationOptions options) {
    if (!options.flightRecorder() || !AVAILABLE) {
      return;
    }
    session.addListener(FlightRecorderListener.start(migrationId, vm.name(), source.hostname(), destination, plane,
        vm.memory().bytes(), options));
  }

  /** Commits the destination's event for a migration received, when the options ask for it. */
  static void received(dev.ferry.ReceiverOptions options, String host, dev.ferry.ReceivedMigration r) {
    if (options.flightRecorder() && AVAILABLE) {
      dev.ferry.jfr.ReceiverEvents.ended(host, r);
    }
  }
}
