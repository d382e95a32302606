package dev.ferry.engine;

import dev.ferry.MigrationEvent;
import dev.ferry.Phase;
import dev.ferry.Progress;
import dev.ferry.RoundStats;
import dev.ferry.policy.SwitchoverRule;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.DirtyLog;
import dev.ferry.spi.VcpuThrottle;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Ferry's own pre-copy: the rounds, and the data plane the {@link Controller} steers.
 *
 * <p>Design note (iterative pre-copy, as in Clark et al., "Live Migration of Virtual Machines",
 * NSDI 2005, and QEMU's RAM migration). Start the dirty log, then send every page (round 0; zero
 * pages as markers). After each round, sync-and-clear the dirty log: those pages were written while
 * the round ran and are the next round's work. From the round's figures, predict what a
 * stop-and-copy would cost now ({@link SwitchoverModel}), build the {@link Progress} and let the
 * controller decide: go on, stop and copy because it fits, or end pre-copy by post-copy, forced
 * completion or abort. The working set is the pages dirty in both of the last two rounds (one pass
 * over the two bitmaps). A round shorter than {@link #MIN_ROUND_NANOS} is stretched to it, so that
 * a loop that cannot converge does not spin.
 *
 * <p>Confined to the migration thread.
 */
final class PreCopy implements Controller.Plane {
  private static final Logger log = LoggerFactory.getLogger(PreCopy.class);
  static final long MIN_ROUND_NANOS = 5_000_000;

  /** How pre-copy ended: what comes next, and the number the next round (the last one) takes. */
  record Ending(Controller.Kind next, long round) {}

  private final SourceContext c;
  private final RoundSender sender;
  private final SwitchoverModel model;
  private final Handshake.Opened opened;
  final long[] bitmap;
  final List<RoundStats> history = new ArrayList<>();
  private Controller controller;
  private long[] previousDirty;
  private long workingSetPages;
  private long lastRoundSentBytes;
  private long guestBytesSent;
  private boolean logStarted;
  private long roundUnderWay;
  private long roundPages;
  private long lastDirtyRate;
  private Duration lastExpected = Duration.ZERO;
  /** The expected downtime of the last round that fitted the limit and waited ({@link SwitchoverRule}). */
  private Duration lastFit;
  private dev.ferry.DowntimeBreakdown lastPrediction;
  private long lastPublishNanos;
  private Thread migrationThread;

  PreCopy(SourceContext c, Handshake.Opened opened, RoundSender sender, SwitchoverModel model) {
    this.c = c;
    this.opened = opened;
    this.sender = sender;
    this.model = model;
    this.bitmap = new long[(int) ((c.pageCount + 63) >>> 6)];
  }

  void controller(Controller controller) {
    this.controller = controller;
  }

  /** Runs rounds until the controller ends pre-copy (an abort is thrown as {@link Abort}). */
  /** Starts the dirty log: before the phase says PRE_COPY, so no one sees the phase without the log. */
  void startLog() {
    c.dirtyLog.orElseThrow().start();
    logStarted = true;
  }

  Ending run(Runnable checkCancel) {
    DirtyLog dl = c.dirtyLog.orElseThrow();
    if (!logStarted) {
      startLog();
    }
    long lastSync = c.now();
    fillAll();
    long round = 0;
    migrationThread = Thread.currentThread();
    Runnable check = () -> {
      checkCancel.run();
      publishMidRound();
    };
    roundPages = c.pageCount;
    while (true) {
      checkCancel.run();
      int throttleNow = c.throttleNow();
      long t0 = c.now();
      roundUnderWay = round;
      RoundTotals sent = sender.send(round, bitmap, check);
      // The round ends when the destination has applied it, not when its last page left: a host
      // that writes slower than the link (memory it must fault in) would otherwise leave a backlog
      // that the switchover pays while the guest is paused, and the link would look faster than it is.
      if (!opened.returnPath().awaitRoundAck(round, c.options.switchoverTimeout(), check)) {
        log.warn("{}: the destination did not acknowledge round {} within {} ms; going on", c.name(), round,
            c.options.switchoverTimeout().toMillis());
      }
      long t1 = c.now();
      if (t1 - t0 < MIN_ROUND_NANOS) {
        sleepNanos(MIN_ROUND_NANOS - (t1 - t0));
      }
      if (round > 0) {
        model.observeRound(t1 - t0, sent.wireBytes);
      }
      Arrays.fill(bitmap, 0L);
      long syncStart = c.now();
      long dirty = dl.syncAndClear(bitmap);
      long syncAt = c.now();
      model.observeSync(syncAt - syncStart);
      long dirtyRate = (long) (dirty * 1e9 / Math.max(1, syncAt - lastSync));
      lastSync = syncAt;
      sender.recordRate(sent, t1 - t0);
      guestBytesSent += sent.pages * c.pageSize;
      lastRoundSentBytes = sent.pages * c.pageSize;
      trackWorkingSet();
      lastPrediction = model.predict(dirty, sender.bandwidth());
      model.expectRound(dirty, sender.bandwidth());
      Duration expected = lastPrediction.total();
      roundPages = dirty;
      lastDirtyRate = dirtyRate;
      lastExpected = expected;
      RoundStats stats = new RoundStats(round, false, sent.pages, sent.zeroPages, sent.wireBytes,
          Duration.ofNanos(t1 - t0), Bandwidth.of(sent.pages * c.pageSize, Duration.ofNanos(t1 - t0)),
          dirty, dirtyRate, expected, throttleNow);
      history.add(stats);
      controller.roundEnded(round, dirty * c.pageSize, syncAt);
      Progress p = progress(round, dirty, dirtyRate, expected, Phase.PRE_COPY);
      c.session.publish(p);
      c.session.emit(new MigrationEvent.RoundCompleted(c.session.elapsed(), stats, p));
      controller.afterRound();
      log.debug("round {}: {} pages sent, {} dirty, expected downtime {} ms", round, sent.pages, dirty,
          expected.toMillis());
      round++;
      checkCancel.run();
      Controller.Verdict v = controller.decide(p, true);
      if (v.kind() == Controller.Kind.ABORT) {
        throw new Abort(dev.ferry.MigrationResult.Outcome.ROLLED_BACK, v.cause());
      }
      if (v.kind() == Controller.Kind.SWITCH_OVER && !SwitchoverRule.switchNow(p, lastFit)) {
        lastFit = p.expectedDowntime();
        controller.record(List.of(), SwitchoverRule.whyWait(p));
        continue;
      }
      if (v.endsPreCopy()) {
        return new Ending(v.kind(), round);
      }
    }
  }

  /**
   * During a long round, at most every 100 ms: the progress so far, the round under way with the
   * pages it has sent, so that a watcher sees a round 0 of many seconds move. Only from the
   * migration's own thread (the page loop of stream 0).
   */
  private void publishMidRound() {
    if (Thread.currentThread() != migrationThread) {
      return;
    }
    long now = c.now();
    if (now - lastPublishNanos < 100_000_000L) {
      return;
    }
    lastPublishNanos = now;
    long sentNow = sender.sentThisRound();
    long left = Math.max(0, roundPages - sentNow);
    Progress p = progress(roundUnderWay, left, lastDirtyRate, lastExpected, Phase.PRE_COPY);
    c.session.publish(new Progress(p.phase(), p.round(), p.elapsed(), p.total(),
        DataSize.bytes(guestBytesSent + sentNow * c.pageSize), p.remaining(), p.dirtyRatePagesPerSecond(),
        p.pageSize(), p.workingSet(), p.bandwidth(), p.expectedDowntime(), p.downtimeLimit(), p.bandwidthLimit(),
        p.throttlePercent(), p.deadline(), p.maxDowntime(), p.lastRoundSent(), p.stalledRounds(), p.sinceProgress(),
        p.throttleAvailable(), p.postCopyAvailable()));
  }

  /** What the last round's end predicted a stop-and-copy would cost, part by part; null before. */
  dev.ferry.DowntimeBreakdown lastPrediction() {
    return lastPrediction;
  }

  /** For a quick migration: every page is in the one and only round. */
  void fillAll() {
    Arrays.fill(bitmap, -1L);
    int tail = (int) (c.pageCount & 63);
    if (tail != 0) {
      bitmap[bitmap.length - 1] = (1L << tail) - 1;
    }
  }

  /** The working set: pages dirty in both this round and the last. */
  private void trackWorkingSet() {
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

  /** Counts pages sent outside the rounds (the stop-and-copy's). */
  void countSent(long pages) {
    guestBytesSent += pages * c.pageSize;
  }

  Progress progress(long round, long dirty, long dirtyRate, Duration expected, Phase phase) {
    long now = c.now();
    Duration limit = controller == null ? c.options.maxDowntime() : controller.downtimeLimit();
    return new Progress(phase, round, Duration.ofNanos(now - c.session.startNanos()), c.desc.memory(),
        DataSize.bytes(guestBytesSent), DataSize.bytes(dirty * c.pageSize), dirtyRate, c.pageSize,
        DataSize.bytes(Math.min(dirty, workingSetPages) * c.pageSize), sender.bandwidth(), expected, limit,
        c.limiter.rate(), c.throttleNow(), c.options.deadline(), c.options.maxDowntime(),
        DataSize.bytes(lastRoundSentBytes), controller == null ? 0 : controller.stalledRounds(),
        controller == null ? Duration.ZERO : controller.sinceProgress(now), c.throttle.isPresent(),
        postCopyRefusal() == null);
  }

  /** Stops the dirty log if this migration started it. Idempotent. */
  void stopDirtyLog() {
    if (logStarted) {
      logStarted = false;
      c.dirtyLog.ifPresent(DirtyLog::stop);
    }
  }

  // ---------------------------------------------------------------- the plane's controls

  @Override
  public String setDowntimeLimit(Duration limit) {
    return "downtime limit " + limit.toMillis() + " ms";
  }

  @Override
  public String setBandwidth(Bandwidth limit) {
    c.limiter.setRate(limit);
    return "bandwidth " + limit;
  }

  @Override
  public String setThrottle(int percent) {
    if (c.throttle.isEmpty()) {
      return "throttle " + percent + " % refused: the backend cannot throttle vCPUs";
    }
    c.throttle.get().setPercent(percent);
    return "throttle " + percent + " %";
  }

  @Override
  public String postCopyRefusal() {
    if (!c.options.allowPostCopy()) {
      return "not allowed by the migration options (allowPostCopy)";
    }
    if (c.quick) {
      return "a quick migration has no pre-copy to switch from";
    }
    if (!opened.destinationPostCopy()) {
      return "the destination cannot run a guest with pages missing";
    }
    return null;
  }

  @Override
  public String switchToPostCopy() {
    return "switch to post-copy";
  }

  @Override
  public String forceCompletion() {
    return "force completion";
  }

  /** Restores the throttle the guest had before the migration. */
  void restoreThrottle(int initial) {
    c.throttle.ifPresent(VcpuThrottle -> VcpuThrottle.setPercent(initial));
  }

  private static void sleepNanos(long nanos) {
    try {
      TimeUnit.NANOSECONDS.sleep(nanos);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
