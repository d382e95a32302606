package dev.ferry.engine;

import dev.ferry.PostCopyStats;
import dev.ferry.RoundStats;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The parts of one source migration as they come into being (the handshake's streams, the round
 * sender, pre-copy, the switchover, the controller, post-copy), so that whatever ends the migration
 * ({@link SourceMigration}'s way forward or {@link SourceEnds}) sees what exists so far. Fields are
 * null until their part exists.
 *
 * <p>Confined to the migration thread, but for {@link #closeLinks}, which cancel and the watchdog
 * may call.
 */
final class SourceParts {
  private static final Logger log = LoggerFactory.getLogger(SourceParts.class);

  final SourceContext c;
  final List<Link> links = new java.util.concurrent.CopyOnWriteArrayList<>();
  Handshake.Opened opened;
  RoundSender sender;
  PreCopy pre;
  Switchover switchover;
  Controller controller;
  PostCopySource postCopySource;
  PostCopyStats postCopyStats;
  int initialThrottle;
  boolean verified;

  SourceParts(SourceContext c) {
    this.c = c;
  }

  /** Stops the source copy once the destination runs the guest; a failure here changes no outcome. */
  void releaseSource() {
    quietly("stopping the dirty log", () -> {
      if (pre != null) {
        pre.stopDirtyLog();
      }
    });
    quietly("stopping the source copy", c.vm::stop);
  }

  void closeLinks() {
    for (Link l : links) {
      l.close();
    }
  }

  void quietly(String what, Runnable r) {
    try {
      r.run();
    } catch (RuntimeException e) {
      log.warn("migration of {}: {} failed", c.name(), what, e);
    }
  }

  long wireBytes() {
    long n = opened == null ? 0 : opened.wireBytes();
    return n + (postCopySource == null ? 0 : postCopySource.recoveryWireBytes());
  }

  long pagesSent() {
    return sender == null ? 0 : sender.pagesSent();
  }

  List<RoundStats> history() {
    return pre == null ? List.of() : pre.history;
  }

  List<String> actions() {
    return controller == null ? new ArrayList<>() : controller.actions();
  }
}
