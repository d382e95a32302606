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
import dev.ferry.TransportException;
import dev.ferry.VerificationFailedException;
import dev.ferry.policy.Decision;
import dev.ferry.policy.PolicyAction;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.DeviceState;
import dev.ferry.spi.DirtyLog;
import dev.ferry.spi.GuestMemory;
import dev.ferry.spi.HostInfo;
import dev.ferry.spi.VcpuThrottle;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmDriver;
import dev.ferry.spi.VmState;
import dev.ferry.wire.Digest;
import dev.ferry.wire.ErrorCode;
import dev.ferry.wire.Message;
import dev.ferry.wire.RemoteErrorException;
import dev.ferry.wire.WireCompression;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The source side of an engine-driven migration: pre-copy rounds, stop-and-copy, switchover and
 * rollback, on one thread of its own.
 *
 * <p>Algorithm (iterative pre-copy, as in Clark et al., "Live Migration of Virtual Machines",
 * NSDI 2005, and QEMU's RAM migration):
 * <ol>
 *   <li>Start the dirty log, then send every page (round 0); zero pages go as markers.
 *   <li>After each round, sync-and-clear the dirty log: those pages were written while the round
 *       ran and are the next round's work. From the round's figures, predict the downtime a
 *       stop-and-copy would cost now: remaining dirty bytes and device state over the measured
 *       bandwidth, plus the switchover's two round trips, plus the memory digest when verifying.
 *   <li>When the prediction fits the downtime limit, stop and copy: pause the vCPUs, sync once
 *       more, send the rest and the device state, ask the destination whether it holds everything
 *       (comparing digests when verifying), tell it to commit, and wait for its confirmation that
 *       the guest runs there. Only then is the source stopped.
 *   <li>Otherwise show the round's {@link Progress} to the convergence policy and apply what it
 *       decides (downtime limit, bandwidth, throttle, force completion, abort).
 * </ol>
 * A quick migration (no dirty log, or asked for) pauses first and does the last step once.
 *
 * <p>Invariants: the source is authoritative until the destination's RESUMED arrives. Any failure
 * or cancel before COMMIT is sent rolls back (the source resumes, the destination discards). A
 * failure after COMMIT but before RESUMED leaves the source paused and the outcome IN_DOUBT,
 * because the destination may already run the guest: two running copies would be worse than a
 * paused one. Pages are partitioned across streams by 64-page block, so a page always travels on
 * the same stream and TCP's order keeps its last version last.
 */
public final class SourceMigration implements Runnable {
  private static final Logger log = LoggerFactory.getLogger(SourceMigration.class);
  private static final long MIN_ROUND_NANOS = 5_000_000;
  private static final Duration CANCEL_GRACE = Duration.ofSeconds(2);
  private static final int RTT_PINGS = 3;
  /** VMs with a migration under way in this process: one at a time per VM. */
  private static final java.util.Set<dev.ferry.spi.VmId> MIGRATING =
      java.util.concurrent.ConcurrentHashMap.newKeySet();

  private final HostInfo sourceHost;
  private final VmDriver vm;
  private final VmDescription desc;
  private final GuestMemory memory;
  private final Optional<DirtyLog> dirtyLog;
  private final Optional<VcpuThrottle> throttle;
  private final Optional<DeviceState> deviceState;
  private final MigrationTarget target;
  private final MigrationOptions options;
  private final boolean quick;
  private final Session session;
  private final long startNanos;
  private final long pageCount;
  private final long[] bitmap;
  private final RateLimiter limiter;
  private final List<RoundStats> history = new ArrayList<>();
  private final List<String> actions = new ArrayList<>();
  private final BlockingQueue<Object> inbox = new LinkedBlockingQueue<>();

  private final List<Link> links = new ArrayList<>();
  private final List<StreamSender> senders = new ArrayList<>();
  private ExecutorService workers;
  private volatile Throwable linkFailure;
  private volatile boolean finished;
  private PostCopySource postCopySource;

  private Duration downtimeLimit;
  private int initialThrottle;
  private long rttNanos;
  private long verifyNanosEstimate;
  private long deviceStateEstimate;
  private long sentBytesForRate;
  private long sentNanosForRate;
  private long pagesSentTotal;
  private long guestBytesSent;
  private boolean paused;
  private long pausedAtNanos;
  private Instant pausedAt;
  private boolean logStarted;
  private UUID sessionId;
  private boolean destinationPostCopy;
  private volatile boolean switchToPostCopy;
  // What the policies see of the history (Progress.stalledRounds, sinceProgress, workingSet,
  // lastRoundSent), updated by trackRound.
  private long progressWatermark = Long.MAX_VALUE;
  private long stalledRounds;
  private long lastProgressNanos;
  private long lastRoundSentBytes;
  private long workingSetPages;
  private long[] previousDirty;

  private SourceMigration(HostInfo sourceHost, VmDriver vm, GuestMemory memory, MigrationTarget target,
      MigrationOptions options) {
    this.sourceHost = sourceHost;
    this.vm = vm;
    this.desc = vm.description();
    this.memory = memory;
    this.dirtyLog = vm.dirtyLog();
    this.throttle = vm.throttle();
    this.deviceState = vm.deviceState();
    this.target = target;
    this.options = options;
    this.quick = options.quick() || dirtyLog.isEmpty();
    this.startNanos = System.nanoTime();
    this.pageCount = memory.pageCount();
    this.bitmap = new long[(int) ((pageCount + 63) >>> 6)];
    this.limiter = new RateLimiter(options.bandwidthLimit());
    this.downtimeLimit = options.maxDowntime();
    this.session = new Session(desc.id(), startNanos, progress(0, 0, 0, Duration.ZERO, Phase.SETUP));
    options.listeners().forEach(session::addListener);
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
      if (vm.hypervisorMigration().isPresent()) {
        throw new MigrationRefusedException("VM '" + name + "' is migrated by its hypervisor, and "
            + "hypervisor-driven migration is not wired into this version of the engine yet");
      }
      throw new MigrationRefusedException("VM '" + name + "': its backend offers neither guest memory "
          + "access nor hypervisor-driven migration, so it cannot be migrated");
    }
    if (vm.state() != VmState.RUNNING) {
      throw new MigrationRefusedException("VM '" + name + "' is " + vm.state()
          + "; only a running VM can be migrated");
    }
    if (!MIGRATING.add(vm.description().id())) {
      throw new MigrationRefusedException("VM '" + name + "' is being migrated already");
    }
    SourceMigration m;
    try {
      if (vm.dirtyLog().map(DirtyLog::isActive).orElse(false)) {
        // A dirty-rate measurement, or a migration from another process, owns the log: starting
        // it again would clear its marks and lose writes.
        throw new MigrationRefusedException("VM '" + name + "' has its dirty log in use: it is being "
            + "migrated or measured already");
      }
      m = new SourceMigration(sourceHost, vm, mem.get(), target, options);
      Thread t = new Thread(m, "ferry-migrate-" + name);
      t.start();
    } catch (RuntimeException | Error e) {
      MIGRATING.remove(vm.description().id());
      throw e;
    }
    return m.session;
  }

  @Override
  public void run() {
    MigrationResult result;
    try {
      result = migrate();
    } catch (InDoubt d) {
      result = inDoubt(d.cause);
    } catch (Abort a) {
      result = rollBack(a.outcome, a.cause);
    } catch (RuntimeException | Error e) {
      log.error("migration of {} failed with an internal error", desc.name(), e);
      result = rollBack(Outcome.FAILED, new MigrationException("internal error: " + e, e));
    } finally {
      finished = true;
      closeLinks();
      MIGRATING.remove(desc.id());
    }
    log.info("migration of {} ended: {} in {} ms, downtime {} ms, {} rounds, {} bytes on the wire",
        desc.name(), result.outcome(), result.totalTime().toMillis(), result.downtime().toMillis(),
        result.roundCount(), result.bytesOnWire());
    session.finish(result);
  }

  private MigrationResult migrate() {
    session.onCancel(this::onCancel);
    try {
      if (!MigrationSlots.acquire(sourceHost.id(), session::cancelRequested)) {
        throw new Abort(Outcome.CANCELLED, new MigrationCancelledException(
            "cancelled while waiting for one of the " + MigrationSlots.DEFAULT_PER_HOST + " migration slots of "
                + sourceHost.hostname()));
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new Abort(Outcome.FAILED, new MigrationException("interrupted while waiting for a migration slot", e));
    }
    try {
      return migrateInSlot();
    } finally {
      MigrationSlots.release(sourceHost.id());
    }
  }

  private MigrationResult migrateInSlot() {
    initialThrottle = throttle.map(VcpuThrottle::percent).orElse(0);
    connect();
    long round = 0;
    if (!quick) {
      session.phase(Phase.PRE_COPY);
      round = preCopy();
    } else {
      Arrays.fill(bitmap, -1L);
      clearTail();
    }
    // The guest pauses next: it must not stay throttled, neither here on a rollback nor where it runs next.
    throttle.ifPresent(t -> t.setPercent(initialThrottle));
    return switchToPostCopy ? postCopy(round) : stopAndCopy(round);
  }

  // ---------------------------------------------------------------- setup

  private void connect() {
    checkCancel();
    int n = options.streams();
    sessionId = UUID.randomUUID();
    Link control = connectStream();
    EnumSet<Message.Hello.Flag> flags = EnumSet.noneOf(Message.Hello.Flag.class);
    if (options.verify()) {
      flags.add(Message.Hello.Flag.VERIFY);
    }
    if (quick) {
      flags.add(Message.Hello.Flag.QUICK);
    } else if (options.allowPostCopy()) {
      flags.add(Message.Hello.Flag.POSTCOPY_CAPABLE);
    }
    WireCompression compression = wireCompression();
    try {
      control.send(new Message.Hello(sessionId, n, target.token(), desc, flags, compression));
      Message reply = control.receive();
      if (reply instanceof Message.ErrorMessage err) {
        throw new Abort(Outcome.FAILED, new DestinationRefusedException(
            "destination refused the migration of '" + desc.name() + "': " + err.code() + ": " + err.message()));
      }
      if (!(reply instanceof Message.Accept accept)) {
        throw new Abort(Outcome.FAILED, new TransportException("destination answered HELLO with " + reply));
      }
      destinationPostCopy = accept.postCopyCapable();
      session.postCopyPossible(this::postCopyAvailable);
      log.info("migrating {} ({}) from {} to {} ({}), {} stream(s), {}", desc.name(), desc.memory(),
          sourceHost.hostname(), accept.hostname(), target.address(), n, quick ? "quick" : "live");
      for (int i = 1; i < n; i++) {
        Link data = connectStream();
        data.send(new Message.Join(sessionId, i, target.token()));
      }
      control.reader.maxPayload(dev.ferry.wire.WireFormat.DEFAULT_MAX_PAYLOAD);
    } catch (IOException e) {
      throw new Abort(Outcome.FAILED, transport("handshake with the destination failed", e));
    }
    for (Link l : links) {
      senders.add(new StreamSender(l, desc.pageSize(), compression, limiter));
    }
    if (n > 1) {
      workers = Executors.newFixedThreadPool(n - 1, r -> {
        Thread t = new Thread(r, "ferry-stream-" + desc.name());
        t.setDaemon(true);
        return t;
      });
    }
    Thread reader = new Thread(this::readReturnPath, "ferry-return-" + desc.name());
    reader.setDaemon(true);
    reader.start();
    measureRoundTrip(control);
    if (options.verify()) {
      verifyNanosEstimate = calibrateDigest();
    }
  }

  private Link connectStream() {
    try {
      Link l = Link.connect(target.address(), options.connectTimeout());
      links.add(l);
      return l;
    } catch (TransportException e) {
      throw new Abort(Outcome.FAILED, e);
    }
  }

  private void measureRoundTrip(Link control) {
    long best = Long.MAX_VALUE;
    for (int i = 0; i < RTT_PINGS; i++) {
      long t0 = System.nanoTime();
      try {
        control.send(new Message.Ping(t0));
      } catch (IOException e) {
        throw new Abort(Outcome.FAILED, transport("lost the destination while measuring the round trip", e));
      }
      awaitMessage(Message.Pong.class, options.connectTimeout(), "PONG");
      best = Math.min(best, System.nanoTime() - t0);
    }
    rttNanos = best;
  }

  /** Predicts what verification adds to the downtime (see {@link MemoryDigest#estimateNanos}). */
  private long calibrateDigest() {
    long estimate = MemoryDigest.estimateNanos(memory);
    log.debug("verification of {} pages estimated at {} ms", pageCount, estimate / 1_000_000);
    return estimate;
  }

  // ---------------------------------------------------------------- pre-copy

  /** Runs pre-copy rounds until the expected downtime fits or the policy forces completion; returns the next round number. */
  private long preCopy() {
    DirtyLog dl = dirtyLog.orElseThrow();
    dl.start();
    logStarted = true;
    long lastSync = System.nanoTime();
    Arrays.fill(bitmap, -1L);
    clearTail();
    long round = 0;
    while (true) {
      checkCancel();
      int throttleNow = throttle.map(VcpuThrottle::percent).orElse(0);
      long t0 = System.nanoTime();
      RoundTotals sent = sendRound(round);
      long t1 = System.nanoTime();
      if (t1 - t0 < MIN_ROUND_NANOS) {
        // A tiny round: give the guest a moment, so a loop that cannot converge does not spin.
        sleepNanos(MIN_ROUND_NANOS - (t1 - t0));
      }
      Arrays.fill(bitmap, 0L);
      long dirty = dl.syncAndClear(bitmap);
      long syncAt = System.nanoTime();
      long dirtyRate = (long) (dirty * 1e9 / Math.max(1, syncAt - lastSync));
      lastSync = syncAt;
      recordRate(sent, t1 - t0);
      Duration expected = expectedDowntime(dirty);
      if (options.verify() && expected.compareTo(downtimeLimit) > 0
          && expected.minusNanos(verifyNanosEstimate).compareTo(downtimeLimit) <= 0) {
        // Only verification stands in the way: measure the digest again, now that the JIT has
        // had time to compile it (a busy machine can leave it interpreted for a while).
        verifyNanosEstimate = Math.min(verifyNanosEstimate, calibrateDigest());
        expected = expectedDowntime(dirty);
      }
      RoundStats stats = new RoundStats(round, false, sent.pages, sent.zeroPages, sent.wireBytes,
          Duration.ofNanos(t1 - t0), Bandwidth.of(sent.pages * desc.pageSize(), Duration.ofNanos(t1 - t0)),
          dirty, dirtyRate, expected, throttleNow);
      history.add(stats);
      trackRound(round, dirty, sent.pages);
      Progress p = progress(round, dirty, dirtyRate, expected, Phase.PRE_COPY);
      session.publish(p);
      session.emit(new MigrationEvent.RoundCompleted(session.elapsed(), stats, p));
      log.debug("round {}: {} pages sent, {} dirty, expected downtime {} ms", round, sent.pages, dirty,
          expected.toMillis());
      round++;
      if (expected.compareTo(downtimeLimit) <= 0) {
        return round;
      }
      checkCancel();
      if (session.postCopyRequested() && postCopyAvailable()) {
        decide(List.of("switch to post-copy"), "asked for by the application");
        switchToPostCopy = true;
        return round;
      }
      if (applyPolicy(p)) {
        return round;
      }
    }
  }

  /** Applies the policy's decision; returns true when it forces completion now. */
  private boolean applyPolicy(Progress p) {
    Decision d = options.policy().decide(p);
    if (d.isEmpty()) {
      if (p.pastDeadline()) {
        decide(List.of("abort"), "deadline of " + p.deadline().toMillis() + " ms passed and the policy "
            + options.policy() + " took no action");
        throw new Abort(Outcome.ROLLED_BACK, new ConvergenceException("deadline of "
            + p.deadline().toMillis() + " ms passed before pre-copy converged (expected downtime "
            + p.expectedDowntime().toMillis() + " ms, limit " + p.downtimeLimit().toMillis() + " ms)"));
      }
      return false;
    }
    List<String> done = new ArrayList<>();
    boolean force = false;
    Abort abort = null;
    for (PolicyAction a : d.actions()) {
      if (a instanceof PolicyAction.SetDowntimeLimit s) {
        // The max downtime is the user's ceiling: only ForceCompletion may exceed it.
        downtimeLimit = s.limit().compareTo(options.maxDowntime()) > 0 ? options.maxDowntime() : s.limit();
        done.add("downtime limit " + downtimeLimit.toMillis() + " ms" + (downtimeLimit.equals(s.limit()) ? ""
            : " (" + s.limit().toMillis() + " ms asked, capped at the max downtime)"));
      } else if (a instanceof PolicyAction.SetBandwidth b) {
        limiter.setRate(b.limit());
        done.add("bandwidth " + b.limit());
      } else if (a instanceof PolicyAction.SetThrottle t) {
        if (throttle.isPresent()) {
          throttle.get().setPercent(t.percent());
          done.add("throttle " + t.percent() + " %");
        } else {
          done.add("throttle " + t.percent() + " % refused: the backend cannot throttle vCPUs");
        }
      } else if (a instanceof PolicyAction.SwitchToPostCopy) {
        if (postCopyAvailable()) {
          done.add("switch to post-copy");
          switchToPostCopy = true;
          force = true;
        } else {
          done.add("post-copy refused: " + postCopyRefusal());
        }
      } else if (a instanceof PolicyAction.ForceCompletion) {
        done.add("force completion");
        force = true;
      } else if (a instanceof PolicyAction.Abort ab) {
        done.add("abort: " + ab.reason());
        abort = new Abort(Outcome.ROLLED_BACK, new ConvergenceException(ab.reason() + " (" + d.reason() + ")"));
      }
    }
    if (abort == null && !force && p.pastDeadline()) {
      done.add("abort: the deadline passed and the policy did not end the migration");
      abort = new Abort(Outcome.ROLLED_BACK, new ConvergenceException("deadline of " + p.deadline().toMillis()
          + " ms passed before pre-copy converged (expected downtime " + p.expectedDowntime().toMillis()
          + " ms, limit " + p.downtimeLimit().toMillis() + " ms)"));
    }
    decide(done, d.reason());
    if (abort != null) {
      throw abort;
    }
    return force;
  }

  /**
   * Updates what the policies see of the history, after a round's sync: the bytes it sent; the
   * progress watermark (a round makes progress when it leaves at most 90 % of the lowest remaining
   * so far; the rounds since, and the time since, are {@link Progress#stalledRounds()} and
   * {@link Progress#sinceProgress()}); and the working set, the pages dirty in both this round and
   * the last (one pass over the bitmap).
   */
  private void trackRound(long round, long dirty, long pagesSent) {
    lastRoundSentBytes = pagesSent * desc.pageSize();
    if (round == 0 || dirty <= progressWatermark * 0.9) {
      progressWatermark = dirty;
      stalledRounds = 0;
      lastProgressNanos = System.nanoTime();
    } else {
      stalledRounds++;
    }
    if (previousDirty == null) {
      previousDirty = new long[bitmap.length];
      workingSetPages = 0;
    } else {
      long both = 0;
      for (int i = 0; i < bitmap.length; i++) {
        both += Long.bitCount(bitmap[i] & previousDirty[i]);
      }
      workingSetPages = both;
    }
    System.arraycopy(bitmap, 0, previousDirty, 0, bitmap.length);
  }

  private void decide(List<String> what, String why) {
    for (String w : what) {
      actions.add(w + (why.isEmpty() ? "" : " (" + why + ")"));
    }
    session.emit(new MigrationEvent.Decision(session.elapsed(), what, why));
  }

  // ---------------------------------------------------------------- stop-and-copy and switchover

  private MigrationResult stopAndCopy(long round) {
    pauseGuest(Phase.STOP_AND_COPY);
    long dirty;
    if (!quick) {
      dirty = dirtyLog.orElseThrow().syncAndClear(bitmap);
    } else {
      dirty = pageCount;
    }
    long t0 = System.nanoTime();
    RoundTotals sent = sendRound(round);
    Link control = links.get(0);
    byte[] state = deviceState.map(DeviceState::save).orElse(new byte[0]);
    try {
      control.writer.writeDeviceState(ByteBuffer.wrap(state));
      control.send(new Message.Switchover((int) round, pagesSentTotal, Optional.empty()));
    } catch (IOException e) {
      throw new Abort(Outcome.FAILED, transport("lost the destination during stop-and-copy", e));
    }
    long t1 = System.nanoTime();
    byte[] sourceDigest = options.verify() ? new MemoryDigest(desc.pageSize()).digest(memory, 0, pageCount) : null;
    Message.Ready ready = awaitMessage(Message.Ready.class, options.switchoverTimeout(), "READY");
    boolean verified = false;
    if (sourceDigest != null) {
      Optional<Digest> theirs = ready.digest();
      if (theirs.isEmpty() || !theirs.get().equals(Digest.of(sourceDigest))) {
        sendQuietly(new Message.Cancel("memory digests differ"));
        throw new Abort(Outcome.FAILED, new VerificationFailedException("memory of '" + desc.name()
            + "' differs between source (" + Digest.of(sourceDigest) + ") and destination ("
            + theirs.map(Digest::toString).orElse("no digest") + ") at switchover"));
      }
      verified = true;
    }
    requireAllPages(ready);
    Duration downtime = commit("stop-and-copy");
    long finalNanos = t1 - t0;
    recordRate(sent, finalNanos);
    RoundStats stats = new RoundStats(round, true, sent.pages, sent.zeroPages, sent.wireBytes,
        Duration.ofNanos(finalNanos), Bandwidth.of(sent.pages * desc.pageSize(), Duration.ofNanos(finalNanos)),
        dirty, 0, downtime, throttle.map(VcpuThrottle::percent).orElse(0));
    history.add(stats);
    session.emit(new MigrationEvent.RoundCompleted(session.elapsed(), stats,
        progress(round, 0, 0, Duration.ZERO, Phase.STOP_AND_COPY)));
    stopDirtyLog();
    Duration total = session.elapsed(); // the migration is done once the destination runs the guest
    releaseSource();
    return new MigrationResult(desc.id(), Outcome.COMPLETED, Optional.empty(), downtime, total,
        wireBytes(), pagesSentTotal, history, verified, actions);
  }

  private void pauseGuest(Phase phase) {
    checkCancel();
    session.phase(phase);
    vm.pause();
    paused = true;
    pausedAtNanos = System.nanoTime();
    pausedAt = Instant.now();
  }

  private void requireAllPages(Message.Ready ready) {
    if (ready.pagesReceived() != pagesSentTotal) {
      sendQuietly(new Message.Cancel("page count mismatch"));
      throw new Abort(Outcome.FAILED, new TransportException("destination received "
          + ready.pagesReceived() + " pages, the source sent " + pagesSentTotal));
    }
  }

  /**
   * Passes the point of no return: tells the destination to run the guest and waits for it to say it
   * does. Returns the downtime, from the source's pause to the destination's resume: by the two
   * hosts' clocks when they agree with what the source saw (the pause until the confirmation), by
   * the source's own count otherwise.
   *
   * @throws InDoubt when the confirmation does not come: the destination may run the guest
   */
  private Duration commit(String during) {
    if (!session.commit()) {
      throw new Abort(Outcome.CANCELLED, new MigrationCancelledException("cancelled during " + during));
    }
    Message.Resumed resumed;
    try {
      links.get(0).send(new Message.Commit());
      resumed = awaitMessageNoCancel(Message.Resumed.class, options.switchoverTimeout());
    } catch (IOException | Abort e) {
      throw new InDoubt(e);
    }
    Duration upper = Duration.ofNanos(System.nanoTime() - pausedAtNanos);
    Duration byClock = Duration.between(pausedAt, resumed.resumedAt());
    return byClock.isNegative() || byClock.compareTo(upper) > 0 ? upper : byClock;
  }

  private void stopDirtyLog() {
    if (logStarted) {
      dirtyLog.ifPresent(DirtyLog::stop);
      logStarted = false;
    }
  }

  /** Stops the source copy once the destination has confirmed that it runs the guest. */
  private void releaseSource() {
    try {
      vm.stop();
    } catch (RuntimeException e) {
      log.warn("VM {} runs on the destination, but stopping the source copy failed", desc.name(), e);
    }
  }

  private WireCompression wireCompression() {
    return switch (options.compression()) {
      case NONE -> WireCompression.NONE;
      case LZ4 -> WireCompression.LZ4;
    };
  }

  /** Whether a switch to post-copy would be carried out now. */
  boolean postCopyAvailable() {
    return postCopyRefusal() == null;
  }

  private String postCopyRefusal() {
    if (!options.allowPostCopy()) {
      return "not allowed by the migration options (allowPostCopy)";
    }
    if (quick) {
      return "a quick migration has no pre-copy to switch from";
    }
    if (!destinationPostCopy) {
      return "the destination cannot run a guest with pages missing";
    }
    return null;
  }

  /**
   * Switches to post-copy: pause, flush every stream, send the device state and the bitmap of the
   * pages the destination lacks, and once it has resumed the guest, hand over to
   * {@link PostCopySource}.
   */
  private MigrationResult postCopy(long round) {
    pauseGuest(Phase.POST_COPY);
    dirtyLog.orElseThrow().syncAndClear(bitmap);
    long[] missing = bitmap.clone();
    long missingPages = 0;
    for (long w : missing) {
      missingPages += Long.bitCount(w);
    }
    Link control = links.get(0);
    byte[] state = deviceState.map(DeviceState::save).orElse(new byte[0]);
    try {
      for (Link l : links) {
        l.send(new Message.RoundEnd((int) round));
      }
      control.writer.writeDeviceState(ByteBuffer.wrap(state));
      control.send(new Message.PostCopySwitch((int) round, pagesSentTotal,
          (int) Math.min(Integer.MAX_VALUE, options.postCopyRecoveryTimeout().toMillis()), missing));
    } catch (IOException e) {
      throw new Abort(Outcome.FAILED, transport("lost the destination while switching to post-copy", e));
    }
    requireAllPages(awaitMessage(Message.Ready.class, options.switchoverTimeout(), "READY"));
    Duration downtime = commit("the switch to post-copy");
    Duration upper = Duration.ofNanos(System.nanoTime() - pausedAtNanos);
    stopDirtyLog();
    for (int i = 1; i < links.size(); i++) {
      links.get(i).close();
    }
    log.info("{} resumed on the destination after {} ms; post-copy of {} pages begins", desc.name(),
        downtime.toMillis(), missingPages);
    RoundStats switchRound = new RoundStats(round, true, 0, 0, 0, upper, Bandwidth.UNLIMITED, missingPages, 0,
        downtime, throttle.map(VcpuThrottle::percent).orElse(0));
    history.add(switchRound);
    PostCopySource pc = new PostCopySource(this, memory, control, missing, target, sessionId,
        options.postCopyRecoveryTimeout(), options.connectTimeout(), limiter, wireCompression());
    postCopySource = pc;
    PostCopySource.Outcome out = pc.run();
    pagesSentTotal += out.stats().pagesRequested() + out.stats().pagesPrepaged() + out.stats().pagesPushed();
    if (!out.completed()) {
      log.error("guest {} lost during post-copy: {}", desc.name(), out.lost().getMessage());
      return new MigrationResult(desc.id(), Outcome.GUEST_LOST, Optional.of(out.lost()), downtime,
          session.elapsed(), totalWireBytes(), pagesSentTotal, history, false, actions, Optional.of(out.stats()));
    }
    Duration total = session.elapsed();
    releaseSource();
    return new MigrationResult(desc.id(), Outcome.COMPLETED, Optional.empty(), downtime, total,
        totalWireBytes(), pagesSentTotal, history, false, actions, Optional.of(out.stats()));
  }

  void postCopyProgress(long pagesMissing, PostCopyStats stats) {
    session.publish(progress(history.isEmpty() ? 0 : history.get(history.size() - 1).round(), pagesMissing, 0,
        Duration.ZERO, Phase.POST_COPY));
    session.emit(new MigrationEvent.PostCopyProgress(session.elapsed(), pagesMissing, stats));
  }

  private long totalWireBytes() {
    return wireBytes() + (postCopySource == null ? 0 : postCopySource.recoveryWireBytes());
  }

  private MigrationResult inDoubt(Exception e) {
    log.error("switchover of {} unconfirmed: the destination may run the guest; the source copy stays "
        + "paused", desc.name(), e);
    stopDirtyLog();
    MigrationException cause = new TransportException("the destination was told to commit, but did not "
        + "confirm that it resumed the guest (" + e.getMessage() + "); the source copy is left paused: "
        + "ask the destination whether it runs the VM before resuming anything", e);
    return new MigrationResult(desc.id(), Outcome.IN_DOUBT, Optional.of(cause),
        Duration.ofNanos(System.nanoTime() - pausedAtNanos), session.elapsed(), wireBytes(), pagesSentTotal,
        history, false, actions);
  }

  // ---------------------------------------------------------------- rollback

  private MigrationResult rollBack(Outcome outcome, MigrationException cause) {
    if (session.cancelRequested() && outcome != Outcome.CANCELLED) {
      cause = new MigrationCancelledException("cancelled (" + cause.getMessage() + ")");
      outcome = Outcome.CANCELLED;
    }
    log.warn("migration of {} rolls back ({}): {}", desc.name(), outcome, cause.getMessage());
    if (!links.isEmpty() && linkFailure == null && !(cause instanceof DestinationRefusedException)) {
      sendQuietly(new Message.Cancel(cause.getMessage() == null ? outcome.name() : cause.getMessage()));
    }
    closeLinks();
    Duration downtime = Duration.ZERO;
    try {
      stopDirtyLog();
      throttle.ifPresent(t -> t.setPercent(initialThrottle));
    } catch (RuntimeException e) {
      log.warn("cleaning up the source of {} after a failed migration", desc.name(), e);
    }
    if (paused) {
      vm.resume();
      downtime = Duration.ofNanos(System.nanoTime() - pausedAtNanos);
    }
    return new MigrationResult(desc.id(), outcome, Optional.of(cause), downtime, session.elapsed(),
        wireBytes(), pagesSentTotal, history, false, actions);
  }

  private void onCancel() {
    // The loops poll the flag between frames; a thread stuck writing to a stalled peer is freed by
    // closing its sockets once the grace period has passed.
    Thread t = new Thread(() -> {
      sleepNanos(CANCEL_GRACE.toNanos());
      if (!finished) {
        log.warn("migration of {} did not stop within {} of cancel; closing its connections",
            desc.name(), CANCEL_GRACE);
        closeLinks();
      }
    }, "ferry-cancel-" + desc.name());
    t.setDaemon(true);
    t.start();
  }

  private void checkCancel() {
    if (session.cancelRequested()) {
      throw new Abort(Outcome.CANCELLED, new MigrationCancelledException("cancelled in "
          + session.phase() + " after " + history.size() + " round(s)"));
    }
    Throwable f = linkFailure;
    if (f != null) {
      throw new Abort(Outcome.FAILED, failureCause(f));
    }
  }

  // ---------------------------------------------------------------- sending

  private RoundTotals sendRound(long round) {
    RoundTotals totals = new RoundTotals();
    int n = senders.size();
    try {
      if (n == 1) {
        totals.add(senders.get(0).sendRound((int) round, bitmap, pageCount, memory, 0, 1, this::checkCancel));
      } else {
        List<Future<RoundTotals>> futures = new ArrayList<>();
        for (int s = 1; s < n; s++) {
          final int stream = s;
          futures.add(workers.submit(() -> senders.get(stream)
              .sendRound((int) round, bitmap, pageCount, memory, stream, n, this::checkCancel)));
        }
        totals.add(senders.get(0).sendRound((int) round, bitmap, pageCount, memory, 0, n, this::checkCancel));
        for (Future<RoundTotals> f : futures) {
          totals.add(f.get());
        }
      }
    } catch (IOException e) {
      throw new Abort(Outcome.FAILED, transport("lost the destination in round " + round, e));
    } catch (java.util.concurrent.ExecutionException e) {
      Throwable c = e.getCause();
      if (c instanceof Abort a) {
        throw a;
      }
      throw new Abort(Outcome.FAILED, transport("lost the destination in round " + round, c));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new Abort(Outcome.FAILED, new MigrationException("interrupted in round " + round, e));
    }
    pagesSentTotal += totals.pages;
    guestBytesSent += totals.pages * desc.pageSize();
    return totals;
  }

  private void recordRate(RoundTotals sent, long nanos) {
    // Rounds of a few frames measure latency, not bandwidth: only count those worth 1 MiB or more.
    if (sent.wireBytes >= (1 << 20) || sentBytesForRate == 0) {
      sentBytesForRate += sent.wireBytes;
      sentNanosForRate += nanos;
    }
  }

  /** Bandwidth measured so far (wire bytes over time spent sending), capped by the limit. */
  private Bandwidth bandwidth() {
    Bandwidth measured = sentNanosForRate == 0 ? Bandwidth.UNLIMITED
        : Bandwidth.of(sentBytesForRate, Duration.ofNanos(sentNanosForRate));
    Bandwidth cap = limiter.rate();
    return measured.compareTo(cap) <= 0 ? measured : cap;
  }

  private Duration expectedDowntime(long dirtyPages) {
    Bandwidth bw = bandwidth();
    long bytes = dirtyPages * (desc.pageSize() + 9L) + deviceStateEstimate;
    return bw.timeFor(bytes).plusNanos(2 * rttNanos + verifyNanosEstimate);
  }

  private Progress progress(long round, long dirty, long dirtyRate, Duration expected, Phase phase) {
    return new Progress(phase, round, Duration.ofNanos(System.nanoTime() - startNanos), desc.memory(),
        DataSize.bytes(guestBytesSent), DataSize.bytes(dirty * desc.pageSize()), dirtyRate, desc.pageSize(),
        DataSize.bytes(Math.min(dirty, workingSetPages) * desc.pageSize()), bandwidth(), expected, downtimeLimit,
        limiter.rate(),
        throttle.map(VcpuThrottle::percent).orElse(0), options.deadline(), options.maxDowntime(),
        DataSize.bytes(lastRoundSentBytes), stalledRounds,
        Duration.ofNanos(System.nanoTime() - (lastProgressNanos == 0 ? startNanos : lastProgressNanos)),
        throttle.isPresent(),
        postCopyAvailable());
  }

  private long wireBytes() {
    long n = 0;
    for (Link l : links) {
      n += l.writer.bytesWritten();
    }
    return n;
  }

  private void clearTail() {
    int tail = (int) (pageCount & 63);
    if (tail != 0) {
      bitmap[bitmap.length - 1] = (1L << tail) - 1;
    }
  }

  // ---------------------------------------------------------------- return path

  private void readReturnPath() {
    Link control = links.get(0);
    try {
      while (!finished) {
        Message m = control.receive();
        if (m instanceof Message.ErrorMessage err) {
          linkFailure = new RemoteErrorException(err);
        }
        inbox.add(m);
        if (m instanceof Message.Resumed && switchToPostCopy) {
          // Post-copy's own reader takes the control stream over from here: stop reading it.
          return;
        }
      }
    } catch (IOException | RuntimeException e) {
      if (!finished) {
        if (linkFailure == null) {
          linkFailure = e;
        }
        inbox.add(e);
      }
    }
  }

  private <T extends Message> T awaitMessage(Class<T> type, Duration timeout, String what) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      checkCancel();
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        throw new Abort(Outcome.FAILED, new TransportException("the destination sent no " + what
            + " within " + timeout.toMillis() + " ms"));
      }
      Object o = poll(Math.min(left, 50_000_000));
      if (type.isInstance(o)) {
        return type.cast(o);
      }
      unexpected(o, what);
    }
  }

  private <T extends Message> T awaitMessageNoCancel(Class<T> type, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        throw new Abort(Outcome.IN_DOUBT, new TransportException("no confirmation within " + timeout));
      }
      Object o = poll(Math.min(left, 50_000_000));
      if (type.isInstance(o)) {
        return type.cast(o);
      }
      if (o instanceof Throwable t) {
        throw new Abort(Outcome.IN_DOUBT, failureCause(t));
      }
      if (o instanceof Message.ErrorMessage err) {
        throw new Abort(Outcome.IN_DOUBT, new TransportException("destination: " + err.message()));
      }
    }
  }

  private Object poll(long nanos) {
    try {
      return inbox.poll(nanos, TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new Abort(Outcome.FAILED, new MigrationException("interrupted", e));
    }
  }

  private void unexpected(Object o, String what) {
    if (o == null || o instanceof Message.Pong || o instanceof Message.RoundAck) {
      return;
    }
    if (o instanceof Message.ErrorMessage err) {
      throw new Abort(Outcome.FAILED, remoteCause(err));
    }
    if (o instanceof Throwable t) {
      throw new Abort(Outcome.FAILED, failureCause(t));
    }
    throw new Abort(Outcome.FAILED, new TransportException("destination sent " + o + " while waiting for " + what));
  }

  private MigrationException failureCause(Throwable t) {
    if (t instanceof RemoteErrorException r) {
      return remoteCause(r.remote());
    }
    if (t instanceof MigrationException m) {
      return m;
    }
    return transport("lost the destination", t);
  }

  private MigrationException remoteCause(Message.ErrorMessage err) {
    String text = "destination: " + err.code() + ": " + err.message();
    if (err.code() == ErrorCode.VERIFY_MISMATCH) {
      return new VerificationFailedException(text);
    }
    if (err.code() == ErrorCode.INCOMPATIBLE || err.code() == ErrorCode.UNAUTHORIZED
        || err.code() == ErrorCode.BUSY || err.code() == ErrorCode.REFUSED) {
      return new DestinationRefusedException(text);
    }
    return new TransportException(text);
  }

  private static TransportException transport(String what, Throwable e) {
    return new TransportException(what + ": " + e.getMessage(), e);
  }

  private void sendQuietly(Message m) {
    try {
      if (!links.isEmpty()) {
        links.get(0).send(m);
      }
    } catch (IOException | RuntimeException e) {
      log.debug("could not tell the destination {}", m, e);
    }
  }

  private synchronized void closeLinks() {
    for (Link l : links) {
      l.close();
    }
    if (workers != null) {
      workers.shutdownNow();
    }
  }

  private static void sleepNanos(long nanos) {
    try {
      TimeUnit.NANOSECONDS.sleep(nanos);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Unwinds a migration whose commit was sent but not confirmed: no rollback, the source stays paused. */
  static final class InDoubt extends RuntimeException {
    private static final long serialVersionUID = 1L;
    final transient Exception cause;

    InDoubt(Exception cause) {
      super(cause.getMessage(), null, false, false);
      this.cause = cause;
    }
  }

  /** Unwinds the migration to its rollback with an outcome and a cause. */
  static final class Abort extends RuntimeException {
    private static final long serialVersionUID = 1L;
    final Outcome outcome;
    final transient MigrationException cause;

    Abort(Outcome outcome, MigrationException cause) {
      super(cause.getMessage(), null, false, false);
      this.outcome = outcome;
      this.cause = cause;
    }
  }
}
