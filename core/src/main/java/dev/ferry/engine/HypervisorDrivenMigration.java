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
import dev.ferry.RoundStats;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.DriverException;
import dev.ferry.spi.HostInfo;
import dev.ferry.spi.HypervisorMigration;
import dev.ferry.spi.HypervisorMigration.Flag;
import dev.ferry.spi.HypervisorMigration.Job;
import dev.ferry.spi.HypervisorMigration.JobState;
import dev.ferry.spi.HypervisorMigration.Stats;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmDriver;
import dev.ferry.spi.VmState;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The source side of a hypervisor-driven migration: the hypervisor (libvirt/QEMU) copies memory;
 * this class starts its job, samples it on a thread of its own, turns the samples into Ferry's
 * {@link Progress}, {@link RoundStats} and events, lets the shared {@link Controller} steer it
 * through the job's controls, and ends with a {@link MigrationResult} as the engine-driven plane
 * reports it.
 *
 * <p>Algorithm: sample the job every {@link #DEFAULT_POLL} (CloudStack's KVM agent polls every
 * 100 ms too). A round ends when the hypervisor's pass counter (QEMU's dirty-sync count, libvirt's
 * {@code memory_iteration}) moves on: the round's figures are the differences between the samples
 * that opened and closed it; several passes shorter than one poll are reported as one round, numbered
 * after the last of them. The controller sees every round's end, and at least once a second during a
 * long one; its trend, stall and deadline rules are the engine-driven plane's, and its decisions are
 * applied through the job (max downtime, max speed, post-copy, pause to force completion, abort).
 * Once the job is in post-copy no round is reported any more: each sample becomes a
 * {@link MigrationEvent.PostCopyProgress} (at most every 100 ms), and the result carries
 * {@link PostCopyStats} with the figures the hypervisor does not report named as not measured.
 * Likewise, once a sample shows the guest paused on the source (stop-and-copy), the pass before
 * is closed as a pre-copy round and what follows is the one stop-and-copy round, reported when the
 * job ends, so that the events keep the order {@link dev.ferry.MigrationListener} documents.
 *
 * <p>Figures: the total time is the session's own, on the options' ticker, from {@code migrate()} to
 * the end; the downtime is the hypervisor's completed-job figure, or empty with the reason when it
 * kept none (libvirt after post-copy) or the guest was paused in a way it does not measure.
 *
 * <p>Invariants:
 * <ul>
 *   <li>Progress never runs backwards: the round number and the bytes transferred only grow. The
 *       remaining bytes may rise between rounds (the guest dirtied memory): that is reported, per
 *       round, not hidden behind a percentage.
 *   <li>The outcome is the job's, which the destination decides: a source VM that vanished after the
 *       switchover is the hypervisor's normal end of a migration, not a failure.
 *   <li>Switching to post-copy is the point of no return: it is taken only if no cancel came first,
 *       and afterwards cancel is refused.
 *   <li>The per-host bound and the one-migration-per-VM guard of {@link MigrationSlots} hold as for
 *       the engine-driven plane: a second migration of a VM being migrated is refused at once, and
 *       a migration beyond the host's bound waits in phase SETUP for a slot.
 *   <li>{@code start} returns at once, as {@code Host.migrate} promises: the hypervisor's job is
 *       started on the session's thread (libvirt takes 0.5 to 1.3 s before QEMU moves memory), and
 *       what the hypervisor refuses then (unreachable destination, same host, incompatible CPU) ends
 *       the session as {@link Outcome#FAILED} with a {@link DestinationRefusedException} carrying its
 *       words; nothing has moved and the VM runs on the source.
 * </ul>
 */
public final class HypervisorDrivenMigration implements Runnable, Controller.Plane {
  private static final Logger log = LoggerFactory.getLogger(HypervisorDrivenMigration.class);
  /** How often the job is sampled. */
  static final Duration DEFAULT_POLL = Duration.ofMillis(100);
  private static final long POLICY_EVERY_NANOS = 1_000_000_000L;
  /** After the deadline (or this long without one), a job that has not ended is aborted. */
  private static final Duration HARD_STOP_WITHOUT_DEADLINE = Duration.ofHours(24);
  private static final Duration HARD_STOP_GRACE = Duration.ofMinutes(2);
  private static final long POST_COPY_EVENT_EVERY_NANOS = 100_000_000L;
  static final String POST_COPY_NOT_MEASURED = "faults, blocked times, prepaged and pushed pages: the hypervisor "
      + "does not report them; pages requested as of the last sample of the job";

  private final HostInfo sourceHost;
  private final VmDescription desc;
  private final HypervisorMigration facet;
  private final HypervisorMigration.Request request;
  private final Set<Flag> flags;
  private final MigrationOptions options;
  private final Duration poll;
  private final Session session;
  private final Controller controller;
  private final List<RoundStats> history = new ArrayList<>();
  private volatile Job job;
  private boolean slotHeld;

  private Duration downtimeLimit;
  private Bandwidth bandwidthLimit;
  private long lastIteration;
  private Stats roundStart;
  private Stats lastPreCopy;
  private long maxTransferred;
  private long workingSet;
  private long lastRoundSent;
  private long lastPolicyNanos;
  private ConvergenceException abortCause;
  private boolean postCopy;
  private long postCopyStartNanos = -1;
  private long lastPostCopyEventNanos = Long.MIN_VALUE;
  private long postCopyRequests;
  private boolean pausedToForce;
  private boolean hardStopped;
  private boolean cancelSent;

  private HypervisorDrivenMigration(HostInfo sourceHost, VmDescription desc, HypervisorMigration facet,
      HypervisorMigration.Request request, MigrationOptions options, Duration poll) {
    this.sourceHost = sourceHost;
    this.desc = desc;
    this.facet = facet;
    this.request = request;
    this.flags = Set.copyOf(request.flags());
    this.options = options;
    this.poll = poll;
    this.downtimeLimit = options.maxDowntime();
    this.bandwidthLimit = options.bandwidthLimit();
    this.roundStart = Stats.starting(desc.memory(), desc.pageSize());
    this.session = new Session(desc.id(), options.ticker(), initial(desc, options));
    this.lastPolicyNanos = session.startNanos();
    this.controller = new Controller(options, session, this);
    FlightRecording.attach(session, java.util.UUID.randomUUID().toString(), sourceHost, desc,
        request.destination().toString(), "hypervisor", options);
    options.listeners().forEach(session::addListener);
  }

  private static Progress initial(VmDescription d, MigrationOptions o) {
    return new Progress(Phase.SETUP, 0, Duration.ZERO, d.memory(), DataSize.ZERO, d.memory(), 0, d.pageSize(),
        DataSize.ZERO, Bandwidth.bytesPerSecond(0), Duration.ZERO, o.maxDowntime(), o.bandwidthLimit(), 0,
        o.deadline(), o.maxDowntime(), DataSize.ZERO, 0, Duration.ZERO, false, false);
  }

  /** The options of the hypervisor's job that these migration options call for. */
  static Set<Flag> flagsFor(MigrationOptions options) {
    EnumSet<Flag> f = EnumSet.of(Flag.PERSIST_DESTINATION, Flag.UNDEFINE_SOURCE);
    if (!options.quick()) {
      f.add(Flag.LIVE);
    }
    if (options.streams() > 1) {
      f.add(Flag.PARALLEL); // QEMU 7.2 cannot combine multifd with post-copy
    } else if (options.allowPostCopy()) {
      f.add(Flag.POST_COPY); // only allows switching later; the job starts as pre-copy
    }
    if (options.compression() != dev.ferry.Compression.NONE) {
      f.add(Flag.COMPRESSED);
    }
    return f;
  }

  /**
   * Checks that the VM can be migrated by its hypervisor to the target and returns at once; a thread
   * of the session's waits for a slot of the source host, starts the job and samples it. What the
   * hypervisor refuses ends the session as {@link Outcome#FAILED} with a
   * {@link DestinationRefusedException}.
   *
   * @throws MigrationRefusedException if the target names no destination host, the VM does not run
   *     or is being migrated already; nothing has moved then and the VM runs on the source
   */
  public static MigrationSession start(HostInfo sourceHost, VmDriver vm, MigrationTarget target,
      MigrationOptions options) {
    return start(sourceHost, vm, target, options, DEFAULT_POLL);
  }

  static MigrationSession start(HostInfo sourceHost, VmDriver vm, MigrationTarget target,
      MigrationOptions options, Duration poll) {
    VmDescription desc = vm.description();
    HypervisorMigration facet = vm.hypervisorMigration().orElseThrow(() -> new MigrationRefusedException(
        "VM '" + desc.name() + "' has no hypervisor-driven migration"));
    Optional<URI> destination = target.hostUri();
    if (destination.isEmpty()) {
      throw new MigrationRefusedException("VM '" + desc.name() + "' is migrated by its hypervisor, which needs "
          + "the destination host's URI: pass destinationHost.target(), or target.withHostUri(uri)");
    }
    if (vm.state() != VmState.RUNNING) {
      throw new MigrationRefusedException("VM '" + desc.name() + "' is " + vm.state()
          + "; only a running VM can be migrated");
    }
    HypervisorMigration.Request request = new HypervisorMigration.Request(destination.get(),
        options.maxDowntime(), options.bandwidthLimit(), options.streams(), flagsFor(options),
        options.destinationConfig(), options.backendOptions());
    MigrationSlots.claimVm(desc.id(), desc.name());
    HypervisorDrivenMigration m;
    try {
      m = new HypervisorDrivenMigration(sourceHost, desc, facet, request, options, poll);
      EngineThreads.keepAlive(options.threadFactory(), m, "ferry-hv-migrate-" + desc.name()).start();
    } catch (RuntimeException | Error e) {
      MigrationSlots.releaseVm(desc.id());
      throw e;
    }
    return m.session;
  }

  private void startJob() {
    job = facet.start(request);
    log.info("migrating {} ({}) from {} to {} through its hypervisor, flags {}", desc.name(), desc.memory(),
        sourceHost.hostname(), request.destination(), flags);
  }

  private String refusal(DriverException e) {
    return "migrating VM '" + desc.name() + "' from " + sourceHost.hostname() + " to " + request.destination()
        + " refused: " + e.getMessage();
  }

  MigrationSession session() {
    return session;
  }

  @Override
  public void run() {
    MigrationResult result = null;
    try {
      if (!slotHeld && !waitForSlot()) {
        result = new MigrationResult(desc.id(), Outcome.CANCELLED, Optional.of(new MigrationCancelledException(
            "cancelled while waiting for one of the " + MigrationSlots.DEFAULT_PER_HOST + " migration slots of "
                + sourceHost.hostname())), Duration.ZERO, session.elapsed(), 0, 0, history, false,
            controller.actions());
        return;
      }
      if (session.cancelRequested()) {
        result = new MigrationResult(desc.id(), Outcome.CANCELLED, Optional.of(new MigrationCancelledException(
            "cancelled before the hypervisor's job started; the VM runs on the source")), Duration.ZERO,
            session.elapsed(), 0, 0, history, false, controller.actions());
        return;
      }
      if (job == null) {
        try {
          startJob();
        } catch (DriverException e) {
          result = new MigrationResult(desc.id(), Outcome.FAILED,
              Optional.of(new DestinationRefusedException(refusal(e))), Duration.ZERO, session.elapsed(), 0, 0,
              history, false, controller.actions());
          return;
        }
      }
      session.onCancel(this::abortQuietly);
      session.postCopyPossible(() -> postCopyRefusal() == null);
      session.phase(Phase.PRE_COPY);
      result = finish(sampleUntilDone());
    } catch (Throwable e) {
      log.error("hypervisor-driven migration of {} failed with an internal error", desc.name(), e);
      abortQuietly();
      result = new MigrationResult(desc.id(), postCopy ? Outcome.IN_DOUBT : Outcome.FAILED,
          Optional.of(new MigrationException("internal error: " + e + (postCopy ? "; the job was in post-copy: "
              + "ask the destination whether it runs the VM" : ""), e)),
          postCopy || pausedToForce ? Optional.empty() : Optional.of(Duration.ZERO),
          postCopy || pausedToForce ? Optional.of("the migration ended on an internal error after the guest was "
              + "paused or switched over") : Optional.empty(),
          session.elapsed(), 0, 0, history, false, controller.actions(), Optional.empty(), Optional.empty());
    } finally {
      if (slotHeld) {
        MigrationSlots.release(sourceHost.id());
      }
      MigrationSlots.releaseVm(desc.id());
      if (result == null) {
        result = new MigrationResult(desc.id(), Outcome.FAILED, Optional.of(new MigrationException(
            "the migration ended without a result; see the log")), Duration.ZERO, session.elapsed(), 0, 0,
            List.of(), false, List.of());
      }
      log.info("migration of {} ended: {} in {} ms, downtime {}, {} rounds, {} bytes", desc.name(),
          result.outcome(), result.totalTime().toMillis(), result.downtimeText(), result.roundCount(),
          result.bytesOnWire());
      session.finish(result);
    }
  }

  private boolean waitForSlot() throws InterruptedException {
    slotHeld = MigrationSlots.acquire(sourceHost.id(), session::cancelRequested);
    return slotHeld;
  }

  private void abortQuietly() {
    Job j = job;
    if (j == null) {
      return;
    }
    try {
      j.abort();
    } catch (RuntimeException e) {
      log.warn("aborting the hypervisor's job for {} failed", desc.name(), e);
    }
  }

  private HypervisorMigration.Result sampleUntilDone() {
    Duration hardStop = options.deadline().isZero() ? HARD_STOP_WITHOUT_DEADLINE
        : options.deadline().plus(HARD_STOP_GRACE);
    while (true) {
      Optional<HypervisorMigration.Result> r;
      try {
        r = job.await(poll);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        job.abort();
        throw new IllegalStateException("interrupted while sampling the job", e);
      }
      if (r.isPresent()) {
        return r.get();
      }
      if (session.cancelRequested() && !cancelSent) {
        cancelSent = true; // also covers a cancel that came before the hook was set
        job.abort();
      }
      sample(job.stats());
      if (!hardStopped && session.elapsed().compareTo(hardStop) > 0) {
        hardStopped = true;
        controller.record(List.of("abort"), "the job ran " + hardStop.toSeconds() + " s, past every deadline");
        job.abort();
      }
    }
  }

  /** Takes one sample: phase, rounds, progress, the controller. Package-private for tests. */
  void sample(Stats s) {
    if (s.state() == JobState.STARTING || s.state() == JobState.ENDED) {
      return;
    }
    if (s.state() == JobState.STOP_AND_COPY && session.phase() == Phase.PRE_COPY) {
      closeLastPassSampled(s); // the pass before the pause is a pre-copy round, reported before the phase changes
    }
    advancePhase(s.state());
    if (session.phase() == Phase.POST_COPY) {
      postCopySample(s);
      return;
    }
    if (session.phase() == Phase.STOP_AND_COPY) {
      // the guest is paused: what moves now is the stop-and-copy round, reported once the job ends
      session.publish(progress(Phase.STOP_AND_COPY, s, round(s)));
      return;
    }
    boolean roundEnded = false;
    if (s.state() == JobState.PRE_COPY) {
      lastPreCopy = s;
    }
    if (s.iteration() > lastIteration) {
      if (lastIteration >= 1) {
        endRound(s, false);
        roundEnded = true;
      } else {
        roundStart = zeroAt(s);
      }
      lastIteration = s.iteration();
    }
    long now = session.ticker().read();
    if (roundEnded) {
      controller.roundEnded(history.get(history.size() - 1).round(), s.remaining().bytes(), now);
    }
    Progress p = progress(session.phase(), s, round(s));
    session.publish(p);
    if (roundEnded) {
      session.emit(new MigrationEvent.RoundCompleted(session.elapsed(), history.get(history.size() - 1), p));
      controller.afterRound();
    }
    if (session.phase() == Phase.PRE_COPY && abortCause == null) {
      boolean ask = roundEnded || now - lastPolicyNanos >= POLICY_EVERY_NANOS;
      if (ask) {
        lastPolicyNanos = now;
      }
      Controller.Verdict v = controller.decide(p, ask);
      if (v.kind() == Controller.Kind.ABORT) {
        abortCause = v.cause();
        job.abort();
      }
    }
  }

  /** A sample taken in post-copy: progress, and a post-copy event at most every 100 ms; no rounds. */
  private void postCopySample(Stats s) {
    postCopyRequests = Math.max(postCopyRequests, s.postCopyRequests());
    Progress p = progress(Phase.POST_COPY, s, round(s));
    session.publish(p);
    long now = session.ticker().read();
    if (lastPostCopyEventNanos == Long.MIN_VALUE || now - lastPostCopyEventNanos >= POST_COPY_EVENT_EVERY_NANOS) {
      lastPostCopyEventNanos = now;
      session.emit(new MigrationEvent.PostCopyProgress(session.elapsed(), s.remaining().bytes() / s.pageSize(),
          postCopyStats(now)));
    }
  }

  /**
   * What post-copy did, as far as the hypervisor says: its duration on the session's clock and the
   * pages the destination requested; the rest it does not report, and the stats say so.
   */
  private PostCopyStats postCopyStats(long now) {
    long start = postCopyStartNanos < 0 ? now : postCopyStartNanos;
    return new PostCopyStats(Duration.ofNanos(Math.max(0, now - start)), 0, Duration.ZERO, Duration.ZERO,
        Duration.ZERO, Duration.ZERO, postCopyRequests, 0, 0, 0, Optional.of(POST_COPY_NOT_MEASURED));
  }

  /** The stats the first round starts from: the job's own start, nothing sent. */
  private static Stats zeroAt(Stats s) {
    return new Stats(s.state(), s.iteration(), s.total(), DataSize.ZERO, s.total(), 0, 0, 0, 0, s.pageSize(),
        Bandwidth.bytesPerSecond(0), Duration.ZERO, Duration.ZERO, 0, Duration.ZERO);
  }

  private long round(Stats s) {
    return Math.max(0, Math.max(s.iteration(), lastIteration) - 1);
  }

  private void advancePhase(JobState state) {
    Phase next = switch (state) {
      case STOP_AND_COPY -> Phase.STOP_AND_COPY;
      case POST_COPY -> Phase.POST_COPY;
      default -> Phase.PRE_COPY;
    };
    if (next.ordinal() > session.phase().ordinal()) {
      session.phase(next);
    }
    if (next == Phase.POST_COPY) {
      postCopy = true;
      if (postCopyStartNanos < 0) {
        postCopyStartNanos = session.ticker().read();
      }
    }
  }

  /**
   * When the job pauses the guest (a sample in stop-and-copy), or at the end of a job that
   * completed in pre-copy: when {@code end} counts more passes than the last pre-copy sample saw
   * (a short migration sampled only in its bulk pass, say), that last sampled pass is reported as
   * the pre-copy round it was (round 0 for the bulk pass), not folded into the stop-and-copy round.
   * Its figures are those sampled plus what QEMU still had to send of it at that sample
   * ({@code memory_remaining}: the pages of the pass not yet sent, since the dirty set grows only at
   * the next pass's sync), the zero pages sent after the sample counted among them, and its time
   * extended by their bytes at that sample's rate. The pages the guest dirtied during it are the ones
   * sent after it: exact when the stop-and-copy came next, an upper bound when passes no sample saw
   * came between; those passes and the stop-and-copy end in the one last round, which nothing
   * tells apart.
   */
  private void closeLastPassSampled(Stats end) {
    Stats at = lastPreCopy;
    if (at == null || lastIteration < 1 || at.iteration() != lastIteration || end.iteration() <= lastIteration) {
      return;
    }
    int page = at.pageSize();
    long sampledPages = Math.max(0, at.normalPages() + at.zeroPages() - roundStart.normalPages()
        - roundStart.zeroPages());
    long endPages = Math.max(0, end.normalPages() + end.zeroPages() - at.normalPages() - at.zeroPages());
    long tailPages = Math.min(at.remaining().bytes() / page, endPages);
    // zero pages sent after the sample belong to the pass (a page the guest dirties is rarely all zero)
    long tailZero = Math.min(Math.max(0, end.zeroPages() - at.zeroPages()), tailPages);
    long tailNormal = tailPages - tailZero;
    long tailBytes = tailNormal * page;
    long tailWire = Math.min(Math.max(0, end.bytesOnWire() - at.bytesOnWire()), tailBytes);
    Duration sampled = at.elapsed().minus(roundStart.elapsed());
    Duration tail = at.bandwidth().bytesPerSecond() > 0 ? at.bandwidth().timeFor(tailWire) : Duration.ZERO;
    Duration d = sampled.isNegative() ? tail : sampled.plus(tail);
    long memBytes = Math.max(0, at.processed().bytes() - roundStart.processed().bytes()) + tailBytes;
    RoundStats rs = new RoundStats(lastIteration - 1, false, sampledPages + tailPages,
        Math.max(0, at.zeroPages() - roundStart.zeroPages()) + tailZero,
        Math.max(0, at.bytesOnWire() - roundStart.bytesOnWire()) + tailWire, d,
        d.isZero() ? Bandwidth.bytesPerSecond(0) : Bandwidth.of(memBytes, d), Math.max(0, endPages - tailPages),
        at.dirtyRatePagesPerSecond(), at.expectedDowntime(), at.throttlePercent());
    history.add(rs);
    session.emit(new MigrationEvent.RoundCompleted(session.elapsed(), rs, progress(session.phase(), at, rs.round())));
    lastRoundSent = memBytes;
    // the next round starts where this pass ended
    roundStart = new Stats(at.state(), at.iteration(), at.total(), DataSize.bytes(at.processed().bytes() + tailBytes),
        at.remaining(), at.normalPages() + tailNormal, at.zeroPages() + tailZero, at.bytesOnWire() + tailWire,
        at.dirtyRatePagesPerSecond(), page, at.bandwidth(), at.expectedDowntime(), Duration.ZERO,
        at.throttlePercent(), at.elapsed().plus(tail));
  }

  /** Ends the round(s) since {@link #roundStart} at sample {@code s}. */
  private void endRound(Stats s, boolean last) {
    Stats a = roundStart;
    long pages = Math.max(0, s.normalPages() + s.zeroPages() - a.normalPages() - a.zeroPages());
    long zero = Math.max(0, s.zeroPages() - a.zeroPages());
    long wire = Math.max(0, s.bytesOnWire() - a.bytesOnWire());
    long memBytes = Math.max(0, s.processed().bytes() - a.processed().bytes());
    Duration d = s.elapsed().minus(a.elapsed());
    if (d.isNegative()) {
      d = Duration.ZERO;
    }
    if (last && !postCopy && d.compareTo(s.downtime()) < 0) {
      // the completed job's clock (the destination's) and the samples' need not agree; the round
      // lasted at least the pause it holds
      d = s.downtime();
    }
    long dirtied = last ? 0 : s.remaining().bytes() / s.pageSize();
    long number = last ? Math.max(s.iteration() - 1, history.isEmpty() ? 0 : history.get(history.size() - 1).round() + 1)
        : s.iteration() - 2;
    if (!history.isEmpty() && number <= history.get(history.size() - 1).round()) {
      number = history.get(history.size() - 1).round() + 1;
    }
    RoundStats rs = new RoundStats(number, last && !postCopy, pages, zero, wire, d,
        d.isZero() ? Bandwidth.bytesPerSecond(0) : Bandwidth.of(memBytes, d), dirtied,
        last ? 0 : s.dirtyRatePagesPerSecond(), last ? s.downtime() : s.expectedDowntime(), s.throttlePercent());
    history.add(rs);
    lastRoundSent = memBytes;
    if (!last) {
      workingSet = s.remaining().bytes();
    }
    roundStart = s;
  }

  /** Whether a stall is being reported now. Package-private for tests. */
  boolean stalled() {
    return controller.stalled();
  }

  // ---------------------------------------------------------------- the plane's controls

  @Override
  public String setDowntimeLimit(Duration limit) {
    try {
      job.setMaxDowntime(limit);
      downtimeLimit = limit;
      return "downtime limit " + limit.toMillis() + " ms";
    } catch (DriverException e) {
      return "downtime limit " + limit.toMillis() + " ms failed: " + e.getMessage();
    }
  }

  @Override
  public String setBandwidth(Bandwidth limit) {
    try {
      job.setBandwidth(limit);
      bandwidthLimit = limit;
      return "bandwidth " + limit;
    } catch (DriverException e) {
      return "bandwidth " + limit + " failed: " + e.getMessage();
    }
  }

  @Override
  public String setThrottle(int percent) {
    return "throttle " + percent + " % refused: the hypervisor throttles vCPUs only by auto-converge, "
        + "chosen when the job starts" + (flags.contains(Flag.AUTO_CONVERGE) ? " (it is on)" : "");
  }

  @Override
  public String postCopyRefusal() {
    if (!flags.contains(Flag.POST_COPY)) {
      return options.allowPostCopy() ? "several streams exclude it"
          : "not allowed by the options (MigrationOptions.allowPostCopy)";
    }
    if (postCopy) {
      return "already running";
    }
    if (abortCause != null) {
      return "the migration is being aborted";
    }
    if (session.cancelRequested()) {
      return "the migration was cancelled first";
    }
    return null;
  }

  @Override
  public String switchToPostCopy() {
    if (!session.commit()) {
      return "post-copy refused: the migration was cancelled first";
    }
    try {
      job.startPostCopy();
      postCopy = true;
      postCopyStartNanos = session.ticker().read();
      return "post-copy: the guest resumes on the destination";
    } catch (DriverException e) {
      return "post-copy failed: " + e.getMessage();
    }
  }

  @Override
  public String forceCompletion() {
    try {
      pausedToForce = true;
      job.forceCompletion();
      return "force completion: guest paused on the source";
    } catch (DriverException e) {
      return "force completion failed: " + e.getMessage();
    }
  }

  // ---------------------------------------------------------------- the end

  private MigrationResult finish(HypervisorMigration.Result r) {
    Stats s = r.stats();
    String hv = r.message().isEmpty() ? "" : ": " + r.message();
    List<String> actions = controller.actions();
    if (!s.elapsed().isZero()) {
      log.info("migration of {}: the hypervisor's own job time {} ms (the session's total time is measured on its "
          + "ticker)", desc.name(), s.elapsed().toMillis());
    }
    switch (r.outcome()) {
      case COMPLETED -> {
        Optional<PostCopyStats> pc = Optional.empty();
        if (postCopy) {
          // The documented order: after PhaseChanged(POST_COPY) only post-copy events, no round.
          session.phase(Phase.POST_COPY);
          postCopyRequests = Math.max(postCopyRequests, s.postCopyRequests());
          PostCopyStats st = postCopyStats(session.ticker().read());
          session.emit(new MigrationEvent.PostCopyProgress(session.elapsed(), 0, st));
          pc = Optional.of(st);
        } else if (s.iteration() > 0 || s.processed().bytes() > 0) {
          if (session.phase() == Phase.PRE_COPY) {
            closeLastPassSampled(s);
          }
          session.phase(Phase.STOP_AND_COPY);
          endRound(s, true);
          session.emit(new MigrationEvent.RoundCompleted(session.elapsed(), history.get(history.size() - 1),
              progress(session.phase(), s, history.get(history.size() - 1).round())));
        }
        Optional<String> unknown = r.downtimeUnknown();
        return new MigrationResult(desc.id(), Outcome.COMPLETED, Optional.empty(),
            unknown.isPresent() ? Optional.empty() : Optional.of(s.downtime()), unknown, session.elapsed(),
            s.bytesOnWire(), s.normalPages() + s.zeroPages(), history, false, controller.actions(), pc,
            Optional.empty(), r.statsNotFinal());
      }
      case DESTINATION_FAILED -> {
        return result(Outcome.DESTINATION_FAILED, new MigrationException("the hypervisor switched the VM over, but "
            + "the destination does not run it" + hv + "; the source no longer holds a current copy"), s, actions,
            Optional.of(r.downtimeUnknown().orElse("the destination stopped running the VM after the switch")), r);
      }
      case POST_COPY_FAILED -> {
        return result(Outcome.IN_DOUBT, new MigrationException("post-copy failed after the destination took "
            + "over; the guest is paused and neither host holds all of its memory; the hypervisor may be able "
            + "to recover the job (libvirt: virsh migrate --postcopy-resume)" + hv), s, actions,
            Optional.of(r.downtimeUnknown().orElse("post-copy failed; the guest has not run since")), r);
      }
      default -> {
        Optional<String> unknown = pausedToForce ? Optional.of("the guest was paused on the source to force "
            + "completion; the hypervisor does not report for how long") : r.downtimeUnknown();
        if (session.cancelRequested()) {
          return result(Outcome.CANCELLED, new MigrationCancelledException("cancelled in " + session.phase()
              + " after " + history.size() + " round(s); the VM runs on the source" + hv), s, actions, unknown, r);
        }
        if (abortCause != null) {
          return result(Outcome.ROLLED_BACK, new ConvergenceException(abortCause.getMessage()
              + "; the VM runs on the source" + hv), s, actions, unknown, r);
        }
        return result(Outcome.FAILED, new MigrationException("the hypervisor failed the migration"
            + (r.message().isEmpty() ? "" : ": " + r.message()) + "; the VM runs on the source"), s, actions,
            unknown, r);
      }
    }
  }

  private MigrationResult result(Outcome outcome, MigrationException cause, Stats s, List<String> actions,
      Optional<String> downtimeUnknown, HypervisorMigration.Result r) {
    log.warn("migration of {} ended {}: {}", desc.name(), outcome, cause.getMessage());
    return new MigrationResult(desc.id(), outcome, Optional.of(cause),
        downtimeUnknown.isPresent() ? Optional.empty() : Optional.of(s.downtime()), downtimeUnknown,
        session.elapsed(), s.bytesOnWire(), s.normalPages() + s.zeroPages(), history, false, actions,
        Optional.empty(), Optional.empty(), r.statsNotFinal());
  }

  private Progress progress(Phase phase, Stats s, long round) {
    maxTransferred = Math.max(maxTransferred, s.processed().bytes());
    long now = session.ticker().read();
    return new Progress(phase, round, session.elapsed(), s.total(), DataSize.bytes(maxTransferred), s.remaining(),
        s.dirtyRatePagesPerSecond(), s.pageSize(), DataSize.bytes(workingSet), s.bandwidth(),
        // in post-copy the guest already runs on the destination: no stop-and-copy is to come, and the
        // hypervisor's estimate (libvirt's pre-copy figure, seconds long) means nothing any more
        phase == Phase.POST_COPY ? Duration.ZERO : s.expectedDowntime(),
        downtimeLimit, bandwidthLimit, s.throttlePercent(), options.deadline(), options.maxDowntime(),
        DataSize.bytes(lastRoundSent), controller.stalledRounds(), controller.sinceProgress(now), false,
        postCopyRefusal() == null);
  }
}
