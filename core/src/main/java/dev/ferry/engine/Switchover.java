package dev.ferry.engine;

import dev.ferry.DowntimeBreakdown;
import dev.ferry.MigrationCancelledException;
import dev.ferry.MigrationEvent;
import dev.ferry.MigrationException;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.Phase;
import dev.ferry.PostCopyStats;
import dev.ferry.RoundStats;
import dev.ferry.TransportException;
import dev.ferry.VerificationFailedException;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DeviceState;
import dev.ferry.wire.Digest;
import dev.ferry.wire.Message;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The end of a source migration: stop-and-copy or the switch to post-copy, and the commit, the
 * point of no return.
 *
 * <p>Design note. Stop-and-copy pauses the vCPUs, syncs the dirty log once more, sends the last
 * dirty pages and the device state, and sends SWITCHOVER; the destination answers READY once every
 * stream delivered the final round (with its memory digest when verifying). The source checks the
 * page count (and the digest), then passes the point of no return: the session's commit (which a
 * cancel can no longer overtake), the {@link Authority}'s move to COMMIT_SENT, and COMMIT on the
 * wire. The destination's answer settles it: RESUMED means it runs the guest (the source is stopped
 * for good); ERROR(ACTIVATION_FAILED) means it discarded its copy (the source may resume); anything
 * else, or nothing, is settled by asking it ({@link CommitResolver}). The switch to post-copy is the
 * same up to the commit, with the bitmap of the pages still missing instead of the pages; then
 * {@link PostCopySource} serves them.
 *
 * <p>Downtime is measured from the source's pause to the destination's resume: by the two hosts'
 * clocks when they agree with what the source saw (the pause until the confirmation), by the
 * source's own count otherwise.
 *
 * <p>Confined to the migration thread.
 */
final class Switchover {
  private static final Logger log = LoggerFactory.getLogger(Switchover.class);

  /**
   * A commit the destination confirmed: the guest runs there.
   *
   * @param byQuery whether the confirmation came from asking the destination, the control stream
   *     having failed
   */
  record Committed(Duration downtime, boolean verified, String note, boolean byQuery, DowntimeBreakdown parts) {}

  private final SourceContext c;
  private final Handshake.Opened opened;
  private final RoundSender sender;
  private final PreCopy pre;
  private long[] missing;
  private long pausedAtNanos;
  private boolean paused;

  Switchover(SourceContext c, Handshake.Opened opened, RoundSender sender, PreCopy pre) {
    this.c = c;
    this.opened = opened;
    this.sender = sender;
    this.pre = pre;
  }

  /** The pages missing on the destination when it switched to post-copy, or null before. */
  long[] missing() {
    return missing == null ? null : missing.clone();
  }

  /** Whether the source copy is paused by this migration. */
  boolean paused() {
    return paused;
  }

  /** Time since the pause, or zero if the guest never paused. */
  Duration sincePause() {
    return paused ? Duration.ofNanos(c.now() - pausedAtNanos) : Duration.ZERO;
  }

  /** Stop-and-copy, then the commit. Each part of the downtime is measured as it happens. */
  Committed stopAndCopy(long round, Runnable checkCancel) {
    long t0 = pause(Phase.STOP_AND_COPY, checkCancel);
    long t1 = c.now();
    long dirty;
    if (!c.quick) {
      // On top of what the last round left dirty: the dirty log ORs into the bitmap.
      dirty = c.dirtyLog.orElseThrow().syncAndClear(pre.bitmap);
    } else {
      dirty = c.pageCount;
    }
    long t2 = c.now();
    RoundTotals sent = sender.send(round, pre.bitmap, checkCancel);
    pre.countSent(sent.pages);
    long t3 = c.now();
    Link control = opened.control();
    byte[] state = c.deviceState.map(DeviceState::save).orElse(new byte[0]);
    try {
      control.sendDeviceState(ByteBuffer.wrap(state));
      control.send(new Message.Switchover((int) round, sender.pagesSent(), Optional.empty()));
    } catch (IOException e) {
      throw new Abort(Outcome.FAILED, sender.explain("lost the destination during stop-and-copy", e));
    }
    long t4 = c.now();
    Message.Ready ready = opened.returnPath().await(Message.Ready.class, c.options.switchoverTimeout(), "READY",
        checkCancel);
    long t5 = c.now();
    boolean verified = false;
    if (c.ledger != null) {
      Digest ours = ledgerDigest(c.ledger.sum(), c.pageCount);
      Optional<Digest> theirs = ready.digest();
      if (theirs.isEmpty() || !theirs.get().equals(ours)) {
        sendQuietly(new Message.Cancel("memory digests differ"));
        throw new Abort(Outcome.FAILED, new VerificationFailedException("memory of '" + c.name()
            + "' differs between what the source sent (" + ours + ") and what the destination holds ("
            + theirs.map(Digest::toString).orElse("no digest") + ") at switchover"));
      }
      verified = true;
    }
    requireAllPages(ready);
    long t6 = c.now();
    Confirmed done = commit("stop-and-copy", false);
    long t7 = c.now();
    long activation = Math.min(done.activationNanos(), t7 - t6);
    DowntimeBreakdown parts = new DowntimeBreakdown(nanos(t1 - t0), nanos(t2 - t1), nanos(t3 - t2), nanos(t4 - t3),
        nanos(t5 - t4), nanos(t6 - t5), nanos(t7 - t6 - activation), nanos(activation));
    SwitchoverModel.learn(parts, state.length);
    long finalNanos = t3 - t2;
    sender.recordRate(sent, finalNanos);
    RoundStats stats = new RoundStats(round, true, sent.pages, sent.zeroPages, sent.wireBytes,
        Duration.ofNanos(finalNanos), Bandwidth.of(sent.pages * c.pageSize, Duration.ofNanos(Math.max(1, finalNanos))),
        dirty, 0, parts.total(), c.throttleNow());
    pre.history.add(stats);
    c.session.emit(new MigrationEvent.RoundCompleted(c.session.elapsed(), stats,
        pre.progress(round, 0, 0, Duration.ZERO, Phase.STOP_AND_COPY)));
    return new Committed(parts.total(), verified, done.note(), done.byQuery(), parts);
  }

  /** The digest a ledger's sum travels as in SWITCHOVER and READY: the sum, the page count, zeros. */
  static Digest ledgerDigest(long sum, long pageCount) {
    return Digest.of(ByteBuffer.allocate(dev.ferry.wire.WireFormat.DIGEST_LENGTH).putLong(sum).putLong(pageCount)
        .array());
  }

  private static Duration nanos(long n) {
    return Duration.ofNanos(Math.max(0, n));
  }

  /** What post-copy needs once the destination runs the guest. */
  record PostCopyStart(Committed committed, long[] missing, long missingPages, boolean linkBroken) {}

  /** Pauses, tells the destination which pages are missing, and commits; post-copy follows. */
  PostCopyStart switchToPostCopy(long round, Runnable checkCancel) {
    long t0 = pause(Phase.POST_COPY, checkCancel);
    long t1 = c.now();
    c.dirtyLog.orElseThrow().syncAndClear(pre.bitmap);
    long t2 = c.now();
    missing = pre.bitmap.clone();
    long missingPages = 0;
    for (long w : missing) {
      missingPages += Long.bitCount(w);
    }
    Link control = opened.control();
    byte[] state = c.deviceState.map(DeviceState::save).orElse(new byte[0]);
    opened.returnPath().handOverAfterResumed();
    try {
      for (Link l : opened.links()) {
        l.send(new Message.RoundEnd((int) round));
      }
      control.sendDeviceState(ByteBuffer.wrap(state));
      control.send(new Message.PostCopySwitch((int) round, sender.pagesSent(),
          (int) Math.min(Integer.MAX_VALUE, c.options.postCopyRecoveryTimeout().toMillis()), missing));
    } catch (IOException e) {
      throw new Abort(Outcome.FAILED, sender.explain("lost the destination while switching to post-copy", e));
    }
    long t3 = c.now();
    requireAllPages(opened.returnPath().await(Message.Ready.class, c.options.switchoverTimeout(), "READY",
        checkCancel));
    long t4 = c.now();
    Confirmed confirmed = commit("the switch to post-copy", true);
    long t5 = c.now();
    long activation = Math.min(confirmed.activationNanos(), t5 - t4);
    DowntimeBreakdown parts = new DowntimeBreakdown(nanos(t1 - t0), nanos(t2 - t1), Duration.ZERO, nanos(t3 - t2),
        nanos(t4 - t3), Duration.ZERO, nanos(t5 - t4 - activation), nanos(activation));
    Committed done = new Committed(parts.total(), false, confirmed.note(), confirmed.byQuery(), parts);
    RoundStats switchRound = new RoundStats(round, true, 0, 0, 0, parts.total(), Bandwidth.UNLIMITED, missingPages, 0,
        done.downtime(), c.throttleNow());
    pre.history.add(switchRound);
    log.info("{} resumed on the destination after {} ms; post-copy of {} pages begins", c.name(),
        done.downtime().toMillis(), missingPages);
    return new PostCopyStart(done, missing.clone(), missingPages, done.byQuery());
  }

  /** Pauses the guest; returns when the pause began (the downtime counts the pause call itself). */
  private long pause(Phase phase, Runnable checkCancel) {
    checkCancel.run();
    c.session.phase(phase);
    long at = c.now();
    pausedAtNanos = at;
    paused = true;
    c.vm.pause();
    return at;
  }

  /** Resumes the source copy. Only the caller that holds the authority's leave may call it. */
  Duration resumeSource() {
    if (!c.authority.mayResumeSource()) {
      throw new IllegalStateException("the source may not be resumed in " + c.authority);
    }
    if (!paused) {
      return Duration.ZERO;
    }
    Duration d = sincePause();
    c.vm.resume();
    paused = false;
    return d;
  }

  private void requireAllPages(Message.Ready ready) {
    if (ready.pagesReceived() != sender.pagesSent()) {
      sendQuietly(new Message.Cancel("page count mismatch"));
      throw new Abort(Outcome.FAILED, new TransportException("destination received "
          + ready.pagesReceived() + " pages, the source sent " + sender.pagesSent()));
    }
  }

  /** A commit the destination confirmed, and what it said of its activation. */
  record Confirmed(long activationNanos, String note, boolean byQuery) {}

  /**
   * Passes the point of no return and settles it: returns once the destination runs the guest.
   *
   * @throws Abort with the authority RETURNED when the destination discarded its copy (the caller
   *     resumes the source), or IN_DOUBT when nobody can say
   */
  private Confirmed commit(String during, boolean postCopy) {
    if (!c.session.commit()) {
      throw new Abort(Outcome.CANCELLED, new MigrationCancelledException("cancelled during " + during));
    }
    c.authority.commit();
    ReturnPath.Confirmation answer;
    try {
      opened.control().send(new Message.Commit());
      answer = opened.returnPath().awaitConfirmation(c.options.switchoverTimeout());
    } catch (IOException e) {
      answer = new ReturnPath.Unsettled("sending COMMIT failed: " + e.getMessage());
    }
    if (answer instanceof ReturnPath.Confirmed ok) {
      confirm(postCopy);
      long activation = ok.resumed().destinationProcessing().toNanos();
      return new Confirmed(Math.max(0, activation), "", false);
    }
    if (answer instanceof ReturnPath.Discarded d) {
      c.authority.returned();
      throw new Abort(Outcome.FAILED, new MigrationException("the destination could not run the guest after "
          + during + " and discarded its copy (" + d.reason() + "); the source resumes"));
    }
    String why = ((ReturnPath.Unsettled) answer).reason();
    CommitResolver.Answer a = new CommitResolver(c).resolve(why);
    if (a.state() == Message.Status.State.RUNNING) {
      confirm(postCopy);
      return new Confirmed(0, "settled by asking the destination after " + a.attempts() + " attempt(s): " + why,
          true);
    }
    if (a.state() == Message.Status.State.DISCARDED) {
      c.authority.returned();
      throw new Abort(Outcome.FAILED, new MigrationException("the commit of " + during + " was not confirmed ("
          + why + "); the destination says it discarded its copy (" + a.detail() + "), so the source resumes"));
    }
    c.authority.inDoubt();
    throw new Abort(Outcome.IN_DOUBT, new TransportException("the destination was told to commit, but did not "
        + "confirm that it resumed the guest (" + why + "), and did not say what became of it within "
        + c.options.inDoubtTimeout().toMillis() + " ms (" + a.attempts() + " question(s); last: " + a.detail()
        + "); the source copy is left paused: ask the destination whether it runs the VM before resuming anything"));
  }

  private void confirm(boolean postCopy) {
    if (postCopy) {
      c.authority.postCopyRunning();
    } else {
      c.authority.confirmed();
    }
  }

  void sendQuietly(Message m) {
    try {
      opened.control().send(m);
    } catch (IOException | RuntimeException e) {
      log.debug("could not tell the destination {}", m, e);
    }
  }

  /** Post-copy statistics are reported through this. */
  interface PostCopyListener {
    void progress(long pagesMissing, PostCopyStats stats);
  }
}
