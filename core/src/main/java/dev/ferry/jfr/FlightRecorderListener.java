package dev.ferry.jfr;

import dev.ferry.DowntimeBreakdown;
import dev.ferry.MigrationEvent;
import dev.ferry.MigrationListener;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationResult;
import dev.ferry.Phase;
import dev.ferry.PostCopyStats;
import dev.ferry.Progress;
import dev.ferry.RoundStats;
import java.time.Duration;
import java.util.Objects;

/**
 * Turns one migration's {@link MigrationEvent}s into JDK Flight Recorder events (listed in
 * {@code package-info.java}). The engine adds one to every migration unless
 * {@link MigrationOptions#flightRecorder()} is off; an application never needs to add it itself.
 *
 * <p>Design: the duration events ({@code dev.ferry.Migration}, {@code dev.ferry.Round},
 * {@code dev.ferry.Switchover}) begin when the migration event that opens them arrives (the
 * listener's creation, the previous round's end or the phase change, the pause) and are committed
 * at the one that closes them, so that Mission Control draws them where they happened. Each event
 * is committed only if a recording enables it ({@code shouldCommit}); with no recording running,
 * an event costs an allocation and a check.
 *
 * <p>Thread-safe: events are handled one at a time.
 */
public final class FlightRecorderListener implements MigrationListener {
  private final String migrationId;
  private final String vm;
  private final String source;
  private final String destination;
  private final String policy;
  private final Events.Migration migration = new Events.Migration();
  private Events.Round round; // guarded by this; the round running now, begun
  private Events.Switchover switchover; // guarded by this; begun at the pause or the switch to post-copy
  private long lastRound = -1; // guarded by this
  private long lastFaults; // guarded by this
  private int lastRecoveries; // guarded by this

  private FlightRecorderListener(String migrationId, String vm, String source, String destination, String policy) {
    this.migrationId = migrationId;
    this.vm = vm;
    this.source = source;
    this.destination = destination;
    this.policy = policy;
    migration.begin();
  }

  /**
   * A listener for the migration about to start, which commits {@code dev.ferry.MigrationStart} at
   * once.
   *
   * @param migrationId what tells this migration's events from those of another
   * @param vm the VM's name
   * @param source the source host, as text
   * @param destination the destination, as text
   * @param plane {@code engine} or {@code hypervisor}
   * @param memory the guest's memory in bytes
   */
  public static FlightRecorderListener start(String migrationId, String vm, String source, String destination,
      String plane, long memory, MigrationOptions options) {
    Objects.requireNonNull(options, "options");
    FlightRecorderListener l = new FlightRecorderListener(Objects.requireNonNull(migrationId, "migrationId"),
        vm, source, destination, String.valueOf(options.policy()));
    Events.MigrationStart e = new Events.MigrationStart();
    if (e.shouldCommit()) {
      e.migrationId = migrationId;
      e.vm = vm;
      e.source = source;
      e.destination = destination;
      e.plane = plane;
      e.policy = l.policy;
      e.memory = memory;
      e.maxDowntime = options.maxDowntime().toNanos();
      e.deadline = options.deadline().toNanos();
      e.postCopyAllowed = options.allowPostCopy();
      e.verify = options.verify();
      e.commit();
    }
    return l;
  }

  /**
   * Whether Flight Recorder is there to record: the {@code jdk.jfr} module is in the runtime (a
   * runtime made by {@code jlink} may leave it out). Without it, the engine adds no listener.
   */
  public static boolean available() {
    return ModuleLayer.boot().findModule("jdk.jfr").isPresent();
  }

  @Override
  public synchronized void onEvent(MigrationEvent event) {
    if (event instanceof MigrationEvent.PhaseChanged p) {
      phaseChanged(p);
    } else if (event instanceof MigrationEvent.RoundCompleted r) {
      roundCompleted(r.stats(), r.progress());
    } else if (event instanceof MigrationEvent.Decision d) {
      decision(d);
    } else if (event instanceof MigrationEvent.PostCopyProgress p) {
      postCopyProgress(p.pagesMissing(), p.stats());
    } else if (event instanceof MigrationEvent.VerificationFailed v) {
      Events.VerificationFailed e = new Events.VerificationFailed();
      if (e.shouldCommit()) {
        e.migrationId = migrationId;
        e.pages = v.pages();
        e.reason = v.reason();
        e.commit();
      }
    } else if (event instanceof MigrationEvent.Finished f) {
      finished(f.result());
    }
  }

  private void phaseChanged(MigrationEvent.PhaseChanged p) {
    Events.PhaseChange e = new Events.PhaseChange();
    if (e.shouldCommit()) {
      e.migrationId = migrationId;
      e.from = p.from().name();
      e.to = p.to().name();
      e.commit();
    }
    if (p.to() == Phase.PRE_COPY || p.to() == Phase.STOP_AND_COPY) {
      round = new Events.Round();
      round.begin();
    }
    if ((p.to() == Phase.STOP_AND_COPY || p.to() == Phase.POST_COPY) && switchover == null) {
      switchover = new Events.Switchover();
      switchover.kind = p.to().name();
      switchover.begin();
    }
  }

  private void roundCompleted(RoundStats s, Progress p) {
    Events.Round e = round == null ? new Events.Round() : round;
    e.end();
    if (e.shouldCommit()) {
      e.migrationId = migrationId;
      e.round = s.round();
      e.stopAndCopy = s.stopAndCopy();
      e.pagesSent = s.pagesSent();
      e.zeroPages = s.zeroPages();
      e.bytesOnWire = s.bytesOnWire();
      e.roundTime = s.duration().toNanos();
      e.bandwidth = s.bandwidth().bytesPerSecond();
      e.pagesDirtied = s.pagesDirtied();
      e.dirtyRatePages = s.dirtyRatePagesPerSecond();
      e.dirtyRate = s.dirtyRatePagesPerSecond() * p.pageSize();
      e.remaining = p.remaining().bytes();
      e.transferred = p.transferred().bytes();
      e.expectedDowntime = s.expectedDowntime().toNanos();
      e.downtimeLimit = p.downtimeLimit().toNanos();
      e.throttle = s.throttlePercent() / 100.0;
      e.commit();
    }
    lastRound = s.round();
    round = new Events.Round();
    round.begin();
  }

  private void decision(MigrationEvent.Decision d) {
    Events.PolicyDecision e = new Events.PolicyDecision();
    if (e.shouldCommit()) {
      e.migrationId = migrationId;
      e.round = lastRound;
      e.actions = String.join("; ", d.actions());
      e.actionCount = d.actions().size();
      e.reason = d.reason();
      e.commit();
    }
  }

  private void postCopyProgress(long pagesMissing, PostCopyStats s) {
    Events.PostCopyProgress e = new Events.PostCopyProgress();
    if (e.shouldCommit()) {
      e.migrationId = migrationId;
      e.pagesMissing = pagesMissing;
      e.faults = s.faults();
      e.newFaults = Math.max(0, s.faults() - lastFaults);
      e.blockedTotal = s.blockedTotal().toNanos();
      e.blockedMax = s.blockedMax().toNanos();
      e.pagesRequested = s.pagesRequested();
      e.pagesPrepaged = s.pagesPrepaged();
      e.pagesPushed = s.pagesPushed();
      e.recoveries = s.recoveries();
      e.commit();
    }
    if (s.recoveries() > lastRecoveries) {
      Events.PostCopyRecovery r = new Events.PostCopyRecovery();
      if (r.shouldCommit()) {
        r.migrationId = migrationId;
        r.recoveries = s.recoveries();
        r.pagesMissing = pagesMissing;
        r.commit();
      }
    }
    lastFaults = s.faults();
    lastRecoveries = s.recoveries();
  }

  private void finished(MigrationResult r) {
    if (switchover != null) {
      Events.Switchover e = switchover;
      e.end();
      if (e.shouldCommit()) {
        e.migrationId = migrationId;
        e.outcome = r.outcome().name();
        e.downtimeKnown = r.downtime().isPresent();
        e.downtime = r.downtime().map(Duration::toNanos).orElse(0L);
        e.breakdown = r.downtimeBreakdown().isPresent();
        if (r.downtimeBreakdown().isPresent()) {
          DowntimeBreakdown b = r.downtimeBreakdown().get();
          e.pause = b.pause().toNanos();
          e.finalSync = b.finalSync().toNanos();
          e.finalPages = b.finalPages().toNanos();
          e.deviceState = b.deviceState().toNanos();
          e.confirmation = b.confirmation().toNanos();
          e.verification = b.verification().toNanos();
          e.commit = b.commit().toNanos();
          e.activation = b.activation().toNanos();
        }
        e.commit();
      }
      switchover = null;
    }
    Events.Migration e = migration;
    e.end();
    if (e.shouldCommit()) {
      e.migrationId = migrationId;
      e.vm = vm;
      e.source = source;
      e.destination = destination;
      e.policy = policy;
      e.outcome = r.outcome().name();
      e.cause = r.cause().map(Throwable::getMessage).map(String::valueOf).orElse("");
      e.rounds = r.roundCount();
      e.pagesSent = r.pagesSent();
      e.bytesOnWire = r.bytesOnWire();
      e.downtimeKnown = r.downtime().isPresent();
      e.downtime = r.downtime().map(Duration::toNanos).orElse(0L);
      e.totalTime = r.totalTime().toNanos();
      e.verified = r.verified();
      e.postCopy = r.postCopy().isPresent();
      e.postCopyFaults = r.postCopy().map(PostCopyStats::faults).orElse(0L);
      e.postCopyBlocked = r.postCopy().map(s -> s.blockedTotal().toNanos()).orElse(0L);
      e.commit();
    }
  }

  @Override
  public String toString() {
    return "FlightRecorderListener[" + migrationId + "]";
  }
}
