package dev.ferry.engine;

import dev.ferry.ConvergenceException;
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
import dev.ferry.Progress;
import dev.ferry.RoundStats;
import dev.ferry.policy.Decision;
import dev.ferry.policy.PolicyAction;
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
 * {@link Progress}, {@link RoundStats} and events, applies the session's convergence policy through
 * the job's controls, and ends with a {@link MigrationResult} as the engine-driven plane reports it.
 *
 * <p>Algorithm: sample the job every {@link #DEFAULT_POLL} (CloudStack's KVM agent polls every
 * 100 ms too). A round ends when the hypervisor's pass counter (QEMU's dirty-sync count, libvirt's
 * {@code memory_iteration}) moves on: the round's figures are the differences between the samples
 * that opened and closed it; several passes shorter than one poll are reported as one round, numbered
 * after the last of them. The policy is asked after every round, and at least once a second during a
 * long one, while the expected downtime does not fit; what it decides is applied through the job
 * (max downtime, max speed, post-copy, pause to force completion, abort). Without a decision, a
 * passed deadline aborts, as in the engine-driven plane.
 *
 * <p>Invariants:
 * <ul>
 *   <li>Progress never runs backwards: the round number and the bytes transferred only grow. The
 *       remaining bytes may rise between rounds (the guest dirtied memory): that is reported, per
 *       round, not hidden behind a percentage.
 *   <li>A stall is judged from the trend of the remaining bytes at the end of the last
 *       {@link #STALL_WINDOW} rounds against the best before them, never from one sample; it is
 *       reported as a {@link MigrationEvent.Decision} without actions.
 *   <li>The outcome is the job's, which the destination decides: a source VM that vanished after the
 *       switchover is the hypervisor's normal end of a migration, not a failure.
 *   <li>Switching to post-copy is the point of no return: it is taken only if no cancel came first,
 *       and afterwards cancel is refused.
 * </ul>
 */
public final class HypervisorDrivenMigration implements Runnable {
  private static final Logger log = LoggerFactory.getLogger(HypervisorDrivenMigration.class);
  /** How often the job is sampled. */
  static final Duration DEFAULT_POLL = Duration.ofMillis(100);
  /** Rounds over which a stall is judged. */
  static final int STALL_WINDOW = 3;
  private static final long POLICY_EVERY_NANOS = 1_000_000_000L;
  /** After the deadline (or this long without one), a job that has not ended is aborted. */
  private static final Duration HARD_STOP_WITHOUT_DEADLINE = Duration.ofHours(24);
  private static final Duration HARD_STOP_GRACE = Duration.ofMinutes(2);

  private final VmDescription desc;
  private final Job job;
  private final Set<Flag> flags;
  private final MigrationOptions options;
  private final Duration poll;
  private final Session session;
  private final List<RoundStats> history = new ArrayList<>();
  private final List<String> actions = new ArrayList<>();
  private long progressWatermark = Long.MAX_VALUE;
  private long stalledRounds;
  private long lastProgressNanos;
  private long lastRoundSent;

  private Duration downtimeLimit;
  private Bandwidth bandwidthLimit;
  private long lastIteration;
  private Stats roundStart;
  private long maxTransferred;
  private long workingSet;
  private long lastPolicyNanos;
  private boolean stalled;
  private boolean policyAborted;
  private String policyAbortReason = "";
  private boolean postCopy;
  private boolean hardStopped;
  private boolean appPostCopyHandled;
  private boolean cancelSent;

  HypervisorDrivenMigration(VmDescription desc, Job job, Set<Flag> flags, MigrationOptions options, Duration poll) {
    this.desc = desc;
    this.job = job;
    this.flags = Set.copyOf(flags);
    this.options = options;
    this.poll = poll;
    this.downtimeLimit = options.maxDowntime();
    this.bandwidthLimit = options.bandwidthLimit();
    this.roundStart = Stats.starting(desc.memory(), desc.pageSize());
    long now = System.nanoTime();
    this.lastPolicyNanos = now;
    this.lastProgressNanos = now;
    this.session = new Session(desc.id(), now, progress(Phase.SETUP, roundStart, 0));
    options.listeners().forEach(session::addListener);
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
   * Checks that the VM can be migrated by its hypervisor to the target, starts the job (which
   * returns once the hypervisor moves memory) and samples it on a thread of its own.
   *
   * @throws MigrationRefusedException if the target names no destination host, the VM does not run,
   *     or the hypervisor refuses (unreachable destination, same host, incompatible CPU); nothing has
   *     moved then and the VM runs on the source
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
    Set<Flag> flags = flagsFor(options);
    HypervisorMigration.Request request = new HypervisorMigration.Request(destination.get(),
        options.maxDowntime(), options.bandwidthLimit(), options.streams(), flags);
    Job job;
    try {
      job = facet.start(request);
    } catch (DriverException e) {
      throw new MigrationRefusedException("migrating VM '" + desc.name() + "' from " + sourceHost.hostname()
          + " to " + destination.get() + " refused: " + e.getMessage());
    }
    log.info("migrating {} ({}) from {} to {} through its hypervisor, flags {}", desc.name(), desc.memory(),
        sourceHost.hostname(), destination.get(), flags);
    HypervisorDrivenMigration m = new HypervisorDrivenMigration(desc, job, flags, options, poll);
    Thread t = new Thread(m, "ferry-hv-migrate-" + desc.name());
    t.setDaemon(true);
    t.start();
    return m.session;
  }

  MigrationSession session() {
    return session;
  }

  @Override
  public void run() {
    MigrationResult result;
    try {
      session.onCancel(job::abort);
      session.postCopyPossible(this::postCopyAvailable);
      session.phase(Phase.PRE_COPY);
      HypervisorMigration.Result r = sampleUntilDone();
      result = finish(r);
    } catch (RuntimeException | Error e) {
      log.error("hypervisor-driven migration of {} failed with an internal error", desc.name(), e);
      try {
        job.abort();
      } catch (RuntimeException ignored) {
        // best effort
      }
      result = new MigrationResult(desc.id(), Outcome.FAILED,
          Optional.of(new MigrationException("internal error: " + e, e)), Duration.ZERO, session.elapsed(), 0, 0,
          history, false, actions);
    }
    log.info("migration of {} ended: {} in {} ms, downtime {} ms, {} rounds, {} bytes", desc.name(),
        result.outcome(), result.totalTime().toMillis(), result.downtime().toMillis(), result.roundCount(),
        result.bytesOnWire());
    session.finish(result);
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
        decide(List.of("abort"), "the job ran " + hardStop.toSeconds() + " s, past every deadline");
        job.abort();
      }
    }
  }

  /** Takes one sample: phase, rounds, progress, policy. Package-private for tests. */
  void sample(Stats s) {
    if (s.state() == JobState.STARTING || s.state() == JobState.ENDED) {
      return;
    }
    advancePhase(s.state());
    boolean roundEnded = false;
    if (s.iteration() > lastIteration) {
      if (lastIteration >= 1) {
        endRound(s, false);
        roundEnded = true;
      } else {
        roundStart = zeroAt(s);
      }
      lastIteration = s.iteration();
    }
    Progress p = progress(session.phase(), s, round(s));
    session.publish(p);
    if (roundEnded) {
      session.emit(new MigrationEvent.RoundCompleted(session.elapsed(), history.get(history.size() - 1), p));
      trackRound(s.remaining().bytes(), history.get(history.size() - 1).round());
    }
    if (session.postCopyRequested() && !appPostCopyHandled && session.phase() == Phase.PRE_COPY) {
      appPostCopyHandled = true;
      decide(List.of(switchToPostCopy()), "asked by the application");
    }
    long now = System.nanoTime();
    if (session.phase() == Phase.PRE_COPY && !p.fitsDowntime() && !policyAborted
        && (roundEnded || now - lastPolicyNanos >= POLICY_EVERY_NANOS)) {
      lastPolicyNanos = now;
      applyPolicy(p);
    }
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
    }
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

  /**
   * The trend over rounds, as the engine-driven plane judges it: a round makes progress when it
   * leaves at most 90 % of the lowest remaining memory of any earlier round (Nova's and KubeVirt's
   * progress watermark); {@link #STALL_WINDOW} rounds in a row without progress are a stall.
   */
  private void trackRound(long remaining, long roundNumber) {
    if (roundNumber == 0 || remaining <= progressWatermark * 0.9) {
      progressWatermark = remaining;
      stalledRounds = 0;
      lastProgressNanos = System.nanoTime();
    } else {
      stalledRounds++;
    }
    boolean now = stalledRounds >= STALL_WINDOW;
    if (now && !stalled) {
      decide(List.of(), "pre-copy stalled: " + stalledRounds + " rounds in a row left more than 90 % of the "
          + "lowest remaining memory so far (" + DataSize.bytes(progressWatermark) + "); now "
          + DataSize.bytes(remaining));
    }
    stalled = now;
  }

  /** Whether a stall is being reported now. Package-private for tests. */
  boolean stalled() {
    return stalled;
  }

  private void applyPolicy(Progress p) {
    Decision d = options.policy().decide(p);
    if (d.isEmpty()) {
      if (p.pastDeadline()) {
        policyAbort(List.of("abort"), "deadline of " + p.deadline().toMillis() + " ms passed and the policy "
            + options.policy() + " took no action", "deadline of " + p.deadline().toMillis()
            + " ms passed before pre-copy converged (expected downtime " + p.expectedDowntime().toMillis()
            + " ms, limit " + p.downtimeLimit().toMillis() + " ms)");
      }
      return;
    }
    List<String> done = new ArrayList<>();
    String abortReason = null;
    for (PolicyAction a : d.actions()) {
      try {
        if (a instanceof PolicyAction.SetDowntimeLimit s) {
          Duration limit = s.limit().compareTo(options.maxDowntime()) > 0 ? options.maxDowntime() : s.limit();
          job.setMaxDowntime(limit);
          downtimeLimit = limit;
          done.add("downtime limit " + limit.toMillis() + " ms" + (limit.equals(s.limit()) ? ""
              : " (asked " + s.limit().toMillis() + " ms, capped at the max downtime)"));
        } else if (a instanceof PolicyAction.SetBandwidth b) {
          job.setBandwidth(b.limit());
          bandwidthLimit = b.limit();
          done.add("bandwidth " + b.limit());
        } else if (a instanceof PolicyAction.SetThrottle t) {
          done.add("throttle " + t.percent() + " % refused: the hypervisor throttles vCPUs only by auto-converge, "
              + "chosen when the job starts" + (flags.contains(Flag.AUTO_CONVERGE) ? " (it is on)" : ""));
        } else if (a instanceof PolicyAction.SwitchToPostCopy) {
          done.add(switchToPostCopy());
        } else if (a instanceof PolicyAction.ForceCompletion) {
          job.forceCompletion();
          done.add("force completion: guest paused on the source");
        } else if (a instanceof PolicyAction.Abort ab) {
          abortReason = ab.reason();
          done.add("abort: " + ab.reason());
        }
      } catch (DriverException e) {
        done.add(a + " failed: " + e.getMessage());
      }
    }
    if (abortReason != null) {
      policyAbort(done, d.reason(), abortReason + (d.reason().isEmpty() ? "" : " (" + d.reason() + ")"));
      return;
    }
    decide(done, d.reason());
  }

  private String switchToPostCopy() {
    if (!flags.contains(Flag.POST_COPY)) {
      return "post-copy refused: " + (options.allowPostCopy() ? "several streams exclude it"
          : "not allowed by the options (MigrationOptions.allowPostCopy)");
    }
    if (postCopy) {
      return "post-copy: already running";
    }
    if (!session.commit()) {
      return "post-copy refused: the migration was cancelled first";
    }
    job.startPostCopy();
    postCopy = true;
    return "post-copy: the guest resumes on the destination";
  }

  private void policyAbort(List<String> what, String why, String cause) {
    decide(what, why);
    policyAborted = true;
    policyAbortReason = cause;
    job.abort();
  }

  private void decide(List<String> what, String why) {
    for (String w : what) {
      actions.add(w + (why.isEmpty() ? "" : " (" + why + ")"));
    }
    session.emit(new MigrationEvent.Decision(session.elapsed(), what, why));
  }

  private MigrationResult finish(HypervisorMigration.Result r) {
    Stats s = r.stats();
    String hv = r.message().isEmpty() ? "" : ": " + r.message();
    switch (r.outcome()) {
      case COMPLETED -> {
        if (s.iteration() > 0 || s.processed().bytes() > 0) {
          session.phase(postCopy ? Phase.POST_COPY : Phase.STOP_AND_COPY);
          endRound(s, true);
          session.emit(new MigrationEvent.RoundCompleted(session.elapsed(), history.get(history.size() - 1),
              progress(session.phase(), s, history.get(history.size() - 1).round())));
        }
        Duration total = s.elapsed().isZero() ? session.elapsed() : s.elapsed();
        return new MigrationResult(desc.id(), Outcome.COMPLETED, Optional.empty(), s.downtime(), total,
            s.bytesOnWire(), s.normalPages() + s.zeroPages(), history, false, actions);
      }
      case POST_COPY_FAILED -> {
        return result(Outcome.IN_DOUBT, new MigrationException("post-copy failed after the destination took "
            + "over; the guest is paused and neither host holds all of its memory; the hypervisor may be able "
            + "to recover the job (libvirt: virsh migrate --postcopy-resume)" + hv), s);
      }
      default -> {
        if (session.cancelRequested()) {
          return result(Outcome.CANCELLED, new MigrationCancelledException("cancelled in " + session.phase()
              + " after " + history.size() + " round(s); the VM runs on the source" + hv), s);
        }
        if (policyAborted) {
          return result(Outcome.ROLLED_BACK, new ConvergenceException(policyAbortReason
              + "; the VM runs on the source" + hv), s);
        }
        return result(Outcome.FAILED, new MigrationException("the hypervisor failed the migration"
            + (r.message().isEmpty() ? "" : ": " + r.message()) + "; the VM runs on the source"), s);
      }
    }
  }

  private MigrationResult result(Outcome outcome, MigrationException cause, Stats s) {
    log.warn("migration of {} ended {}: {}", desc.name(), outcome, cause.getMessage());
    return new MigrationResult(desc.id(), outcome, Optional.of(cause), s.downtime(), session.elapsed(),
        s.bytesOnWire(), s.normalPages() + s.zeroPages(), history, false, actions);
  }

  private Progress progress(Phase phase, Stats s, long round) {
    maxTransferred = Math.max(maxTransferred, s.processed().bytes());
    return new Progress(phase, round, session == null ? Duration.ZERO : session.elapsed(), s.total(),
        DataSize.bytes(maxTransferred), s.remaining(), s.dirtyRatePagesPerSecond(), s.pageSize(),
        DataSize.bytes(workingSet), s.bandwidth(), s.expectedDowntime(), downtimeLimit, bandwidthLimit,
        s.throttlePercent(), options.deadline(), options.maxDowntime(), DataSize.bytes(lastRoundSent), stalledRounds,
        Duration.ofNanos(System.nanoTime() - lastProgressNanos), false, postCopyAvailable());
  }

  private boolean postCopyAvailable() {
    return flags.contains(Flag.POST_COPY) && !postCopy && !policyAborted;
  }
}
