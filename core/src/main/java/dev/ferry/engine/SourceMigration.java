package dev.ferry.engine;

import dev.ferry.ConvergenceException;
import dev.ferry.DestinationRefusedException;
import dev.ferry.MigrationCancelledException;
import dev.ferry.MigrationEvent;
import dev.ferry.MigrationException;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationRefusedException;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.MigrationSession;
import dev.ferry.MigrationTarget;
import dev.ferry.Phase;
import dev.ferry.PostCopyStats;
import dev.ferry.Progress;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.DirtyLog;
import dev.ferry.spi.GuestMemory;
import dev.ferry.spi.HostInfo;
import dev.ferry.spi.VmDriver;
import dev.ferry.spi.VmState;
import dev.ferry.wire.Message;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The source side of an engine-driven migration, on a thread of its own: it opens the migration
 * ({@link Handshake}), runs pre-copy ({@link PreCopy}, steered by the shared {@link Controller}),
 * ends it by stop-and-copy or post-copy ({@link Switchover}, {@link PostCopySource}), and turns
 * whatever happened into exactly one {@link MigrationResult}.
 *
 * <p>Design note. What a failure leads to is decided by the {@link Authority}, never by where the
 * failure was thrown: while the source is authoritative, anything (a cut link, a malformed reply, a
 * backend call that throws, a listener's {@link Error}, a bug) rolls back: the destination is told
 * to cancel, the source resumes, the hosts are as they were. After COMMIT, nothing resumes the
 * source but the destination's own word that it discarded its copy; a commit nobody confirms is
 * settled by asking the destination, and only when it cannot be asked is the outcome IN_DOUBT
 * with the source paused. In post-copy, a failure loses the guest rather than resume a stale copy.
 * The session's future is completed in a {@code finally}, with a fallback result if even building
 * one failed.
 *
 * <p>Every wait is bounded: the links by the peer timeout (their {@link LinkWatchdog}), the
 * switchover by its timeout, the commit's settling by the in-doubt timeout, the pre-copy rounds by
 * the deadline, which a watchdog enforces in the middle of a round by closing the links.
 *
 * <p>Thread-safe as a whole: the migration thread runs it; the application's cancel and the
 * watchdog only set flags and close links.
 */
public final class SourceMigration implements Runnable {
  private static final Logger log = LoggerFactory.getLogger(SourceMigration.class);
  private static final Duration CANCEL_GRACE = Duration.ofSeconds(2);

  private final SourceContext c;
  private final SourceParts p;
  private final SourceEnds ends;
  private volatile boolean finished;
  private volatile boolean deadlineHit;

  private SourceMigration(HostInfo sourceHost, VmDriver vm, GuestMemory memory, MigrationTarget target,
      MigrationOptions options) {
    Session session = new Session(vm.description().id(), options.ticker(), initialProgress(vm, options));
    this.c = new SourceContext(sourceHost, vm, memory, target, options, session);
    FlightRecording.attach(session, c.sessionId.toString(), sourceHost, vm.description(),
        FlightRecording.destination(target), "engine", options);
    options.listeners().forEach(session::addListener);
    this.p = new SourceParts(c);
    this.ends = new SourceEnds(c, p, this::servePostCopy);
  }

  private static Progress initialProgress(VmDriver vm, MigrationOptions o) {
    var d = vm.description();
    return new Progress(Phase.SETUP, 0, Duration.ZERO, d.memory(), DataSize.ZERO, DataSize.ZERO, 0, d.pageSize(),
        DataSize.ZERO, dev.ferry.spi.Bandwidth.UNLIMITED, Duration.ZERO, o.maxDowntime(), o.bandwidthLimit(), 0,
        o.deadline(), o.maxDowntime(), DataSize.ZERO, 0, Duration.ZERO, vm.throttle().isPresent(), false);
  }

  /**
   * Checks that the VM can be migrated with these options and starts the migration on a thread of
   * its own.
   *
   * @throws MigrationRefusedException if it cannot be; nothing has moved then
   */
  public static MigrationSession start(HostInfo sourceHost, VmDriver vm, MigrationTarget target,
      MigrationOptions options) {
    Optional<GuestMemory> mem = vm.memory();
    String name = vm.description().name();
    if (mem.isEmpty()) {
      throw new MigrationRefusedException("VM '" + name + "': its backend offers neither guest memory "
          + "access nor hypervisor-driven migration, so it cannot be migrated");
    }
    if (vm.state() != VmState.RUNNING) {
      throw new MigrationRefusedException("VM '" + name + "' is " + vm.state() + "; only a running VM can be migrated");
    }
    if (options.destinationConfig().isPresent()) {
      throw new MigrationRefusedException("VM '" + name + "' is migrated by Ferry's engine, which has no use for a "
          + "destination configuration (MigrationOptions.destinationConfig): only a hypervisor-driven migration "
          + "(libvirt) takes one");
    }
    if (options.backendOptions().isPresent()) {
      throw new MigrationRefusedException("VM '" + name + "' is migrated by Ferry's engine, which has no use for "
          + "a backend's options (MigrationOptions.backendOptions: " + options.backendOptions().get() + "): only a "
          + "hypervisor-driven migration (libvirt) takes them");
    }
    MigrationSlots.claimVm(vm.description().id(), name);
    SourceMigration m;
    try {
      if (vm.dirtyLog().map(DirtyLog::isActive).orElse(false)) {
        // A dirty-rate measurement, or a migration from another process, owns the log: starting
        // it again would clear its marks and lose writes.
        throw new MigrationRefusedException("VM '" + name + "' has its dirty log in use: it is being "
            + "migrated or measured already");
      }
      m = new SourceMigration(sourceHost, vm, mem.get(), target, options);
      EngineThreads.keepAlive(options.threadFactory(), m, "ferry-migrate-" + name).start();
    } catch (RuntimeException | Error e) {
      MigrationSlots.releaseVm(vm.description().id());
      throw e;
    }
    return m.c.session;
  }

  @Override
  public void run() {
    MigrationResult result = null;
    try {
      result = migrate();
    } catch (Throwable t) {
      try {
        result = ends.unwind(t, deadlineHit);
      } catch (Throwable again) {
        log.error("migration of {}: ending it after {} failed too", c.name(), t, again);
      }
    } finally {
      finished = true;
      closeEverything();
      if (result == null) {
        result = ends.fallback();
      }
      MigrationSlots.releaseVm(c.desc.id());
      log.info("migration of {} ended: {} in {} ms, downtime {}, {} rounds, {} bytes on the wire", c.name(),
          result.outcome(), result.totalTime().toMillis(), result.downtimeText(), result.roundCount(),
          result.bytesOnWire());
      c.session.finish(result);
    }
  }

  private MigrationResult migrate() throws InterruptedException {
    c.session.onCancel(this::onCancel);
    c.watchdog.start();
    if (!c.options.deadline().isZero()) {
      c.watchdog.schedule(this::deadlineReached, c.options.deadline().toNanos());
    }
    if (!MigrationSlots.acquire(c.sourceHost.id(), this::slotWaitOver)) {
      checkCancel();
      throw new Abort(Outcome.ROLLED_BACK, new ConvergenceException("the deadline passed while waiting for one "
          + "of the " + MigrationSlots.DEFAULT_PER_HOST + " migration slots of " + c.sourceHost.hostname()));
    }
    try {
      return migrateInSlot();
    } finally {
      MigrationSlots.release(c.sourceHost.id());
    }
  }

  private boolean slotWaitOver() {
    return c.session.cancelRequested() || deadlineHit;
  }

  private MigrationResult migrateInSlot() {
    p.initialThrottle = c.throttleNow();
    p.opened = new Handshake(c, p.links).open(this::checkCancel);
    p.sender = new RoundSender(c, p.opened);
    SwitchoverModel model = new SwitchoverModel(c.pageSize, p.opened.rttNanos());
    p.pre = new PreCopy(c, p.opened, p.sender, model);
    p.controller = new Controller(c.options, c.session, p.pre);
    p.pre.controller(p.controller);
    c.session.postCopyPossible(() -> p.pre.postCopyRefusal() == null);
    p.switchover = new Switchover(c, p.opened, p.sender, p.pre);
    long round = 0;
    Controller.Kind next = Controller.Kind.SWITCH_OVER;
    if (!c.quick) {
      p.pre.startLog();
      c.session.phase(Phase.PRE_COPY);
      PreCopy.Ending end = p.pre.run(this::checkCancel);
      round = end.round();
      next = end.next();
    } else {
      p.pre.fillAll();
    }
    // The guest pauses next: it must not stay throttled, neither here on a rollback nor where it runs next.
    p.pre.restoreThrottle(p.initialThrottle);
    return next == Controller.Kind.POST_COPY ? postCopy(round) : stopAndCopy(round, next == Controller.Kind.FORCE);
  }

  private MigrationResult stopAndCopy(long round, boolean forced) {
    dev.ferry.DowntimeBreakdown predicted = p.pre.lastPrediction();
    Switchover.Committed done = p.switchover.stopAndCopy(round, this::checkCancel);
    Duration total = c.session.elapsed(); // the migration is done once the destination runs the guest
    if (!done.note().isEmpty()) {
      p.controller.record(List.of(), done.note());
    }
    Duration limit = p.controller.downtimeLimit();
    if (!c.quick && predicted != null && done.downtime().compareTo(limit) > 0) {
      List<String> over = SwitchoverModel.overruns(predicted, done.parts());
      p.controller.record(List.of(), "downtime " + done.downtime().toMillis() + " ms, over the " + limit.toMillis()
          + " ms limit" + (forced ? " (completion was forced)" : " against " + predicted.total().toMillis()
          + " ms predicted") + (over.isEmpty() ? "" : ": " + String.join("; ", over)));
    }
    p.verified = done.verified() && checkFrozenSource();
    if (p.verified || c.ledger == null) {
      p.releaseSource();
    }
    return new MigrationResult(c.desc.id(), Outcome.COMPLETED, Optional.empty(), done.downtime(), total,
        p.wireBytes(), p.sender.pagesSent(), p.pre.history, p.verified, p.controller.actions(), Optional.empty(),
        Optional.of(done.parts()));
  }

  /**
   * Off the downtime path, before the source's memory is released: hashes the frozen source against
   * what was sent. A difference is a write the dirty log never reported, so the destination runs
   * with a stale page: the listeners are told which, and the frozen source is kept, paused, for
   * whoever decides what to do with it.
   */
  private boolean checkFrozenSource() {
    if (c.ledger == null) {
      return false;
    }
    long t0 = c.now();
    PageLedger.Differences d = c.ledger.differences(c.memory, 16);
    Duration took = Duration.ofNanos(c.now() - t0);
    if (d.count() == 0) {
      log.info("verification of {}: the frozen source matches what was sent ({} pages in {} ms)", c.name(),
          c.pageCount, took.toMillis());
      return true;
    }
    String why = d.count() + " page(s) of the frozen source differ from what was sent (first: "
        + java.util.Arrays.toString(d.first()) + "): writes the dirty log did not report; the destination runs "
        + "with stale copies of them. The source copy is kept paused, not released";
    log.error("verification of {} failed: {}", c.name(), why);
    p.controller.record(List.of("keep the source paused"), "verification failed: " + why);
    c.session.emit(new MigrationEvent.VerificationFailed(c.session.elapsed(), d.count(),
        java.util.Arrays.stream(d.first()).boxed().toList(), why));
    return false;
  }

  private MigrationResult postCopy(long round) {
    return servePostCopy(p.switchover.switchToPostCopy(round, this::checkCancel));
  }

  private MigrationResult servePostCopy(Switchover.PostCopyStart start) {
    p.quietly("stopping the dirty log", p.pre::stopDirtyLog);
    for (int i = 1; i < p.opened.links().size(); i++) {
      Link l = p.opened.links().get(i);
      c.watchdog.forget(l);
      l.close();
    }
    p.postCopySource = new PostCopySource(c, p.opened.control(), start.missing(), this::postCopyProgress);
    PostCopySource.Outcome out = p.postCopySource.run(start.linkBroken());
    p.postCopyStats = out.stats();
    long pages = p.sender.pagesSent() + out.stats().pagesRequested() + out.stats().pagesPrepaged()
        + out.stats().pagesPushed();
    if (!out.completed()) {
      c.authority.lost();
      log.error("guest {} lost during post-copy: {}", c.name(), out.lost().getMessage());
      return new MigrationResult(c.desc.id(), Outcome.GUEST_LOST, Optional.of(out.lost()),
          start.committed().downtime(), c.session.elapsed(), p.wireBytes(), pages, p.pre.history, false,
          p.controller.actions(), Optional.of(out.stats()), Optional.ofNullable(start.committed().parts()));
    }
    c.authority.confirmed();
    Duration total = c.session.elapsed();
    p.releaseSource();
    return new MigrationResult(c.desc.id(), Outcome.COMPLETED, Optional.empty(), start.committed().downtime(), total,
        p.wireBytes(), pages, p.pre.history, false, p.controller.actions(), Optional.of(out.stats()),
        Optional.ofNullable(start.committed().parts()));
  }

  private void postCopyProgress(long pagesMissing, PostCopyStats stats) {
    long round = p.pre.history.isEmpty() ? 0 : p.pre.history.get(p.pre.history.size() - 1).round();
    c.session.publish(p.pre.progress(round, pagesMissing, 0, Duration.ZERO, Phase.POST_COPY));
    c.session.emit(new MigrationEvent.PostCopyProgress(c.session.elapsed(), pagesMissing, stats));
  }

  // ---------------------------------------------------------------- cancel, deadline, cleanup

  private void onCancel() {
    // The loops poll the flag between frames; a thread stuck writing to a stalled peer is freed by
    // closing its links once the grace period has passed (the peer timeout would free it later).
    c.watchdog.schedule(() -> {
      if (!finished && !c.authority.committed()) {
        log.warn("migration of {} did not stop within {} of cancel; closing its connections", c.name(), CANCEL_GRACE);
        p.closeLinks();
      }
    }, CANCEL_GRACE.toNanos());
  }

  /** The deadline passed: a round under way is ended by closing the links (the source stays authoritative). */
  private void deadlineReached() {
    Phase phase = c.session.phase();
    if (!finished && !c.authority.committed() && (phase == Phase.SETUP || phase == Phase.PRE_COPY)) {
      deadlineHit = true;
      log.warn("migration of {}: deadline of {} ms reached in {}; ending the round", c.name(),
          c.options.deadline().toMillis(), phase);
      p.closeLinks();
    }
  }

  private void checkCancel() {
    if (c.session.cancelRequested()) {
      throw new Abort(Outcome.CANCELLED, new MigrationCancelledException("cancelled in " + c.session.phase()
          + " after " + p.history().size() + " round(s)"));
    }
    if (deadlineHit) {
      throw new Abort(Outcome.FAILED, new ConvergenceException("deadline passed"));
    }
    Throwable f = p.opened == null ? null : p.opened.returnPath().failure();
    if (f != null) {
      throw new Abort(Outcome.FAILED, Failures.cause(f));
    }
  }

  private void closeEverything() {
    p.quietly("closing the links", p::closeLinks);
    if (p.opened != null) {
      p.opened.returnPath().stop();
    }
    if (p.sender != null) {
      p.quietly("stopping the stream threads", p.sender::close);
    }
    p.quietly("stopping the watchdog", c.watchdog::close);
  }

}
