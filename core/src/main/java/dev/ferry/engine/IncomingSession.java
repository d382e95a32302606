package dev.ferry.engine;

import dev.ferry.ReceivedMigration;
import dev.ferry.spi.IncomingVm;
import dev.ferry.spi.PostCopyIncoming;
import dev.ferry.spi.VmDriver;
import dev.ferry.wire.DeviceStateAssembler;
import dev.ferry.wire.Digest;
import dev.ferry.wire.EndOfStreamException;
import dev.ferry.wire.ErrorCode;
import dev.ferry.wire.Frame;
import dev.ferry.wire.Message;
import dev.ferry.wire.Messages;
import dev.ferry.wire.PageBatchDecoder;
import dev.ferry.wire.ProtocolException;
import dev.ferry.wire.WireException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One migration being received: its incoming VM, its streams and how far each has got, from
 * ACCEPT to activation (or post-copy's completion) or discard.
 *
 * <p>Design note. The control stream's thread runs {@link #controlLoop}: pages of stream 0,
 * ROUND_ENDs, the device state, PINGs, then SWITCHOVER (or POSTCOPY_SWITCH), answered READY once
 * every data stream delivered the final round, and COMMIT, answered RESUMED once the guest runs
 * here. A data stream's thread runs {@link #dataLoop}. The session's end is decided in one place,
 * {@link #end}: the incoming copy is discarded unless it was activated, and the outcome is written
 * in the receiver's {@link SessionBook}, for a source that asks. A COMMIT whose activation fails
 * discards the copy and answers ERROR(ACTIVATION_FAILED), the destination's word that lets the
 * source resume.
 *
 * <p>Failure rules: whatever any stream's thread meets (a malformed frame, a source gone silent past
 * the peer timeout, a backend call that throws, an {@link Error} such as running out of memory) ends
 * the session with that reason, sent to the source as an ERROR before the streams are closed, so the
 * source reports the destination's cause, not a broken pipe.
 *
 * <p>Thread-safe: the control thread and the data-stream threads share it; its monitor guards the
 * round counters and the end.
 */
final class IncomingSession {
  private static final Logger log = LoggerFactory.getLogger(IncomingSession.class);

  final Receiver receiver;
  final Message.Hello hello;
  final IncomingVm vm;
  final Link control;
  private final Link[] streams;
  private final int[] lastRound;
  private int roundAcked = -1;
  private final AtomicLong pagesReceived = new AtomicLong();
  private final DeviceStateAssembler deviceState = new DeviceStateAssembler();
  /** The hash of every page applied, when the source verifies; null otherwise. */
  private final PageLedger ledger;
  /** Where arriving pages are written: the incoming VM's memory, through the ledger when verifying. */
  private final ArrivalMemory pages;
  private final long startNanos;
  private volatile long lastStreamProgress;
  private volatile Throwable failure;
  private volatile boolean activated;
  private volatile PostCopyDestination postCopy;
  private Message.PostCopySwitch postCopySwitch;
  private boolean ended;

  IncomingSession(Receiver receiver, Message.Hello hello, IncomingVm vm, Link control) {
    this.receiver = receiver;
    this.hello = hello;
    this.vm = vm;
    this.control = control;
    this.streams = new Link[hello.streamCount()];
    this.streams[0] = control;
    this.lastRound = new int[hello.streamCount()];
    java.util.Arrays.fill(lastRound, -1);
    this.startNanos = receiver.ticker().read();
    this.lastStreamProgress = startNanos;
    this.ledger = hello.has(Message.Hello.Flag.VERIFY)
        ? new PageLedger(hello.vm().pageCount(), hello.vm().pageSize(), hello.streamCount()) : null;
    this.pages = new ArrivalMemory(ledger == null ? vm.memory() : LedgerMemory.receiving(vm.memory(), ledger));
  }

  String name() {
    return hello.vm().name();
  }

  /** The post-copy under way, or null. */
  PostCopyDestination postCopy() {
    return postCopy;
  }

  boolean activated() {
    return activated;
  }

  synchronized void attach(int index, Link link) throws WireException {
    if (ended || index < 1 || index >= streams.length || streams[index] != null) {
      throw new WireException(ErrorCode.PROTOCOL, "JOIN for stream " + index + " of a session with "
          + streams.length + " streams, or joined twice, or after its end");
    }
    streams[index] = link;
  }

  /** Runs the control stream until the guest runs here (or the session fails: then it throws). */
  void controlLoop() throws IOException {
    PageBatchDecoder decoder = new PageBatchDecoder(hello.vm().pageSize());
    long switchoverAt = 0;
    while (true) {
      Frame f = control.reader.next();
      switch (f.type()) {
        case PAGES -> {
          pagesReceived.addAndGet(decoder.apply(f.payload(), pages));
          lastStreamProgress = receiver.ticker().read();
        }
        case ROUND_END -> roundEnd(0, Messages.expect(f, Message.RoundEnd.class).round());
        case DEVICE_STATE -> deviceState.accept(Messages.expect(f, Message.DeviceStateChunk.class));
        case PING -> control.send(new Message.Pong(Messages.expect(f, Message.Ping.class).nanos()));
        case PONG -> { } // the answer to our keepalive
        case SWITCHOVER -> {
          if (switchoverAt != 0) {
            throw new ProtocolException("a second SWITCHOVER");
          }
          switchoverAt = receiver.ticker().read();
          control.send(prepareSwitchover(Messages.expect(f, Message.Switchover.class)));
        }
        case POSTCOPY_SWITCH -> {
          if (switchoverAt != 0) {
            throw new ProtocolException("POSTCOPY_SWITCH after a switchover");
          }
          switchoverAt = receiver.ticker().read();
          postCopySwitch = Messages.expect(f, Message.PostCopySwitch.class);
          control.send(preparePostCopy(postCopySwitch));
        }
        case COMMIT -> {
          if (switchoverAt == 0) {
            throw new ProtocolException("COMMIT before SWITCHOVER");
          }
          long commitAt = receiver.ticker().read();
          if (postCopySwitch != null) {
            startPostCopy(commitAt);
            return;
          }
          if (activate()) {
            // The processing time is the activation's: from COMMIT to the guest running here.
            control.send(new Message.Resumed(Instant.now(), Duration.ofNanos(receiver.ticker().read() - commitAt)));
          }
          return;
        }
        case CANCEL -> {
          String why = Messages.expect(f, Message.Cancel.class).reason();
          log.info("source cancelled the migration of {}: {}", name(), why);
          end(null, "the source cancelled: " + why);
          return;
        }
        case ERROR -> throw new IOException("source reported an error: " + Messages.decode(f));
        default -> throw new ProtocolException("unexpected " + f.type() + " frame on the control stream");
      }
    }
  }

  void dataLoop(int index, Link link) throws IOException {
    PageBatchDecoder decoder = new PageBatchDecoder(hello.vm().pageSize());
    while (!activated && failure == null && !ended) {
      Frame f;
      try {
        f = link.reader.next();
      } catch (EndOfStreamException e) {
        return;
      }
      switch (f.type()) {
        case PAGES -> {
          pagesReceived.addAndGet(decoder.apply(f.payload(), pages));
          lastStreamProgress = receiver.ticker().read();
        }
        case ROUND_END -> roundEnd(index, Messages.expect(f, Message.RoundEnd.class).round());
        default -> throw new ProtocolException("unexpected " + f.type() + " frame on data stream " + index);
      }
    }
  }

  private synchronized void roundEnd(int stream, int round) throws IOException {
    if (round < lastRound[stream]) {
      throw new ProtocolException("stream " + stream + " went back from round " + lastRound[stream] + " to " + round);
    }
    lastRound[stream] = round;
    lastStreamProgress = receiver.ticker().read();
    notifyAll();
    // Once every stream has ended a round, the control stream says so (ROUND_ACK): the source then
    // knows this host has applied it, and neither counts a backlog here as link speed nor pauses
    // the guest while this host is still behind.
    int all = Integer.MAX_VALUE;
    for (int r : lastRound) {
      all = Math.min(all, r);
    }
    if (all > roundAcked) {
      roundAcked = all;
      control.send(new Message.RoundAck(all, pagesReceived.get()));
    }
  }

  private Message preparePostCopy(Message.PostCopySwitch s) throws IOException {
    PostCopyIncoming pc = vm.postCopy().orElseThrow(() -> new WireException(ErrorCode.REFUSED,
        "this host cannot run a guest with pages missing"));
    awaitStreams(s.finalRound());
    loadDeviceState();
    long[] missing = s.missing();
    if (missing.length != (hello.vm().pageCount() + 63) >>> 6) {
      throw new ProtocolException("POSTCOPY_SWITCH bitmap has " + missing.length + " words for "
          + hello.vm().pageCount() + " pages");
    }
    int tail = (int) (hello.vm().pageCount() & 63);
    if (tail != 0 && (missing[missing.length - 1] & (-1L << tail)) != 0) {
      throw new ProtocolException("POSTCOPY_SWITCH bitmap marks pages beyond the guest's " + hello.vm().pageCount());
    }
    synchronized (this) {
      requireEveryPage(missing, "POSTCOPY_SWITCH");
    }
    pc.markMissing(missing);
    postCopy = new PostCopyDestination(this, pc, control, Duration.ofMillis(Math.max(1, s.recoveryMillis())));
    return new Message.Ready(pagesReceived.get(), Optional.empty());
  }

  /** Resumes the guest with pages missing and hands the rest to a post-copy thread of its own. */
  private void startPostCopy(long commitAt) throws IOException {
    PostCopyDestination pc = postCopy;
    synchronized (this) {
      if (ended) {
        throw new IllegalStateException("incoming VM already discarded");
      }
      try {
        pc.activate();
      } catch (RuntimeException | Error e) {
        activationFailed(e);
        return;
      }
      activated = true;
      receiver.book().running(hello.sessionId(), "runs here in post-copy");
    }
    pc.confirm(new Message.Resumed(Instant.now(), Duration.ofNanos(receiver.ticker().read() - commitAt)));
    log.info("VM {} resumed on {} with {} pages still to come", name(), receiver.hostname(),
        vm.postCopy().map(PostCopyIncoming::missingPages).orElse(0L));
    for (int i = 1; i < streams.length; i++) {
      if (streams[i] != null) {
        streams[i].close();
      }
    }
    receiver.runPostCopy(this, pc);
  }

  private void loadDeviceState() throws IOException {
    if (!deviceState.isComplete()) {
      throw new ProtocolException("switchover before the whole device state arrived");
    }
    ByteBuffer state = deviceState.result();
    byte[] blob = new byte[state.remaining()];
    state.get(blob);
    try {
      vm.loadDeviceState(blob);
    } catch (RuntimeException e) {
      throw new WireException(ErrorCode.REFUSED, "device state rejected: " + e.getMessage(), e);
    }
  }

  private Message prepareSwitchover(Message.Switchover s) throws IOException {
    awaitStreams(s.finalRound());
    requireEveryPage(null, "SWITCHOVER");
    loadDeviceState();
    Optional<Digest> digest = ledger == null ? Optional.empty()
        : Optional.of(Switchover.ledgerDigest(ledger.sum(), hello.vm().pageCount()));
    return new Message.Ready(pagesReceived.get(), digest);
  }

  /** Refuses a switch while some page never arrived and is not among those {@code excused}. */
  private void requireEveryPage(long[] excused, String what) throws ProtocolException {
    long missing = pages.missingPages(excused);
    if (missing > 0) {
      throw new ProtocolException(what + " with " + missing + " of " + hello.vm().pageCount()
          + " pages never sent: the guest would run over memory that did not arrive");
    }
  }

  /**
   * Waits until every stream delivered round {@code finalRound}, for as long as some stream keeps
   * delivering: a stream that has sent nothing for the peer timeout fails the session. The control
   * stream, which reads the switch itself, must have ended that round already (else this would wait
   * for the peer timeout for a ROUND_END that nobody reads).
   */
  private synchronized void awaitStreams(int finalRound) throws IOException {
    if (lastRound[0] < finalRound) {
      // Stream 0 is the control stream itself: its ROUND_END comes before the switch or never.
      throw new ProtocolException("switch after round " + finalRound + " before the control stream ended that round"
          + " (it ended round " + lastRound[0] + "): a source ends the final round on every stream first");
    }
    long timeout = receiver.options().peerTimeout().toNanos();
    while (true) {
      if (failure != null) {
        throw new IOException("a data stream failed: " + failure.getMessage(), failure);
      }
      boolean all = true;
      for (int r : lastRound) {
        all &= r >= finalRound;
      }
      if (all) {
        return;
      }
      long idle = receiver.ticker().read() - lastStreamProgress;
      if (idle > timeout) {
        throw new ProtocolException("the data streams delivered nothing of round " + finalRound + " for "
            + idle / 1_000_000 + " ms (peer timeout " + timeout / 1_000_000 + " ms)");
      }
      try {
        wait(Math.max(1, Math.min(100, (timeout - idle) / 1_000_000)));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted", e);
      }
    }
  }

  /** Activates the guest; on failure discards it and says so to the source. Returns whether it runs. */
  private boolean activate() throws IOException {
    synchronized (this) {
      if (ended) {
        throw new IllegalStateException("incoming VM already discarded");
      }
      try {
        vm.activate();
      } catch (RuntimeException | Error e) {
        activationFailed(e);
        return false;
      }
      activated = true;
      receiver.book().running(hello.sessionId(), "runs here");
    }
    log.info("VM {} resumed on {}", name(), receiver.hostname());
    receiver.ended(new ReceivedMigration(name(), ReceivedMigration.Outcome.ARRIVED, "", elapsed()));
    return true;
  }

  private void activationFailed(Throwable e) throws IOException {
    String why = "activating VM '" + name() + "' on " + receiver.hostname() + " failed: " + e;
    log.error("{}; discarding the incoming copy", why, e);
    end(e, why);
    control.send(new Message.ErrorMessage(ErrorCode.ACTIVATION_FAILED, why + "; the copy here is discarded"));
  }

  /** The post-copy ended: the guest is all here, or lost. */
  void postCopyEnded(boolean complete, String detail) {
    receiver.ended(new ReceivedMigration(name(), complete ? ReceivedMigration.Outcome.ARRIVED
        : ReceivedMigration.Outcome.LOST, detail, elapsed()));
  }

  /**
   * Ends the session on a failure of any of its streams: tells the source why (unless it is the
   * source that went away), then closes every stream. The control thread's {@link #end} discards.
   */
  void fail(Throwable t) {
    boolean first;
    synchronized (this) {
      first = failure == null && !ended;
      if (failure == null) {
        failure = t;
      }
      notifyAll();
    }
    if (first && !activated) {
      Receiver.sendError(control, t);
      for (Link l : streams) {
        if (l != null) {
          l.close();
        }
      }
    }
  }

  /**
   * Ends the session once: discards the incoming copy unless the guest runs here, records the
   * outcome, and closes the data streams. Idempotent.
   */
  void end(Throwable cause, String why) {
    synchronized (this) {
      if (ended) {
        return;
      }
      ended = true;
      if (!activated) {
        try {
          vm.discard();
        } catch (RuntimeException | Error e) {
          log.warn("discarding the incoming copy of {} failed", name(), e);
        }
        receiver.book().discarded(hello.sessionId(), why);
        log.info("discarded the incoming copy of {}: {}", name(), why);
      }
      notifyAll();
    }
    if (!activated) {
      receiver.ended(new ReceivedMigration(name(), ReceivedMigration.Outcome.DISCARDED, why, elapsed()));
    }
    for (Link l : streams) {
      if (l != null && l != control) {
        l.close();
      }
    }
  }

  Throwable failure() {
    return failure;
  }

  private Duration elapsed() {
    return Duration.ofNanos(receiver.ticker().read() - startNanos);
  }

  /** The VM that runs here in post-copy, for {@link PostCopyDestination}. */
  VmDriver runningVm() {
    return postCopy == null ? null : postCopy.vm();
  }
}
