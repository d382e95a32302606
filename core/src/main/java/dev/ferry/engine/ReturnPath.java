package dev.ferry.engine;

import dev.ferry.MigrationException;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.TransportException;
import dev.ferry.Ticker;
import dev.ferry.wire.ErrorCode;
import dev.ferry.wire.Message;
import dev.ferry.wire.ProtocolException;
import dev.ferry.wire.RemoteErrorException;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The source's reader of the control stream: what the destination says (PONG, ROUND_ACK, READY,
 * RESUMED, ERROR) lands in a bounded inbox that the migration thread awaits.
 *
 * <p>Design note. The destination writes into memory the source reads, so nothing it sends may
 * make the source spend without bound: the inbox holds at most {@link #CAPACITY} messages, and a
 * destination that floods it fails the migration with a protocol error; a message that has no
 * place on the return path (PAGES, HELLO...), and an answer nobody asked for (a PONG without its
 * PING, a ROUND_ACK without its ROUND_END), is a protocol error at once. The
 * destination's keepalive PINGs are answered here and never reach the inbox. Reads are bounded by
 * the link's watchdog: a destination that sends nothing, not even a keepalive, for the peer timeout
 * is lost. The first failure is kept and wins over later ones.
 *
 * <p>Thread-safe: one reader thread writes; the migration thread reads.
 */
final class ReturnPath implements Runnable {
  static final int CAPACITY = 1024;

  /** What the destination answered to COMMIT. */
  sealed interface Confirmation {}

  /** It runs the guest. */
  record Confirmed(Message.Resumed resumed) implements Confirmation {}

  /** It said it could not run the guest and discarded its copy. */
  record Discarded(String reason) implements Confirmation {}

  /** No answer that settles it: the link failed, the time ran out, or it answered something else. */
  record Unsettled(String reason) implements Confirmation {}

  private final Link control;
  private final Ticker ticker;
  private final ArrayBlockingQueue<Object> inbox = new ArrayBlockingQueue<>(CAPACITY);
  private volatile Throwable failure;
  private volatile boolean stopped;
  private volatile boolean handOverAfterResumed;
  private long roundAcked = -1;

  ReturnPath(Link control, Ticker ticker) {
    this.control = control;
    this.ticker = ticker;
  }

  /** After RESUMED, stop reading: post-copy's own reader takes the control stream over. */
  void handOverAfterResumed() {
    this.handOverAfterResumed = true;
  }

  /** The first failure of the return path, or null. */
  Throwable failure() {
    return failure;
  }

  void stop() {
    stopped = true;
  }

  @Override
  public void run() {
    long pongs = 0;
    long acks = 0;
    try {
      while (!stopped) {
        Message m = control.receive();
        if (m instanceof Message.Ping ping) {
          control.send(new Message.Pong(ping.nanos()));
          continue;
        }
        // An answer is owed once per question: more PONGs than PINGs, or more ROUND_ACKs than rounds
        // ended, is a destination making the source spend what it did not ask for.
        if (m instanceof Message.Pong && ++pongs > control.pingsSent()) {
          throw new ProtocolException("the destination sent " + pongs + " PONGs for " + control.pingsSent()
              + " PINGs");
        }
        if (m instanceof Message.RoundAck && ++acks > control.roundEndsSent()) {
          throw new ProtocolException("the destination acknowledged " + acks + " rounds of " + control.roundEndsSent()
              + " sent");
        }
        if (!(m instanceof Message.Pong || m instanceof Message.RoundAck || m instanceof Message.Ready
            || m instanceof Message.Resumed || m instanceof Message.ErrorMessage)) {
          throw new ProtocolException("the destination sent " + m.type() + " on the return path");
        }
        if (m instanceof Message.ErrorMessage err) {
          fail(new RemoteErrorException(err));
        }
        if (m instanceof Message.RoundAck ack) {
          synchronized (this) {
            roundAcked = Math.max(roundAcked, ack.round());
            notifyAll();
          }
          continue;
        }
        if (!inbox.offer(m)) {
          throw new ProtocolException("the destination sent more than " + CAPACITY
              + " messages on the return path that were not asked for");
        }
        if (m instanceof Message.Resumed && handOverAfterResumed) {
          return;
        }
      }
    } catch (IOException | RuntimeException e) {
      if (!stopped) {
        fail(e);
        inbox.offer(e);
      }
    }
  }

  private synchronized void fail(Throwable t) {
    if (failure == null) {
      failure = t;
    }
    notifyAll();
  }

  /**
   * Waits until the destination has acknowledged round {@code round} (ROUND_ACK: every stream's
   * pages of it applied), checking {@code cancel} every 50 ms.
   *
   * @return whether it did within {@code timeout}
   * @throws Abort if the destination fails meanwhile
   */
  boolean awaitRoundAck(long round, Duration timeout, Runnable cancel) {
    long deadline = ticker.read() + timeout.toNanos();
    while (true) {
      cancel.run();
      synchronized (this) {
        if (roundAcked >= round) {
          return true;
        }
        if (failure != null) {
          throw new Abort(Outcome.FAILED, Failures.cause(failure));
        }
        long left = deadline - ticker.read();
        if (left <= 0) {
          return false;
        }
        try {
          TimeUnit.NANOSECONDS.timedWait(this, Math.min(left, 50_000_000));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new Abort(Outcome.FAILED, new MigrationException("interrupted", e));
        }
      }
    }
  }

  /**
   * Waits for a message of {@code type}, checking {@code cancel} every 50 ms; PONGs and ROUND_ACKs
   * on the way are dropped.
   *
   * @throws Abort when the time runs out, the destination fails or says something else
   */
  <T extends Message> T await(Class<T> type, Duration timeout, String what, Runnable cancel) {
    long deadline = ticker.read() + timeout.toNanos();
    while (true) {
      cancel.run();
      long left = deadline - ticker.read();
      if (left <= 0) {
        throw new Abort(Outcome.FAILED, new TransportException("the destination sent no " + what
            + " within " + timeout.toMillis() + " ms"));
      }
      Object o = poll(Math.min(left, 50_000_000));
      if (type.isInstance(o)) {
        return type.cast(o);
      }
      if (o == null || o instanceof Message.Pong || o instanceof Message.RoundAck) {
        continue;
      }
      if (o instanceof Message.ErrorMessage err) {
        throw new Abort(Outcome.FAILED, Failures.remote(err));
      }
      if (o instanceof Throwable t) {
        throw new Abort(Outcome.FAILED, Failures.cause(t));
      }
      throw new Abort(Outcome.FAILED, new TransportException("the destination sent " + o + " while the source "
          + "waited for " + what));
    }
  }

  /** Waits for the answer to COMMIT. Never throws: whatever happens is a {@link Confirmation}. */
  Confirmation awaitConfirmation(Duration timeout) {
    long deadline = ticker.read() + timeout.toNanos();
    while (true) {
      long left = deadline - ticker.read();
      if (left <= 0) {
        return new Unsettled("no answer to COMMIT within " + timeout.toMillis() + " ms");
      }
      Object o;
      try {
        o = poll(Math.min(left, 50_000_000));
      } catch (Abort a) {
        return new Unsettled(a.getMessage());
      }
      if (o instanceof Message.Resumed r) {
        return new Confirmed(r);
      }
      if (o instanceof Message.ErrorMessage err) {
        if (err.code() == ErrorCode.ACTIVATION_FAILED) {
          return new Discarded(err.message());
        }
        return new Unsettled("the destination answered COMMIT with " + err.code() + ": " + err.message());
      }
      if (o instanceof Throwable t) {
        return new Unsettled(t.getMessage() == null ? t.toString() : t.getMessage());
      }
      if (o != null && !(o instanceof Message.Pong) && !(o instanceof Message.RoundAck)) {
        return new Unsettled("the destination answered COMMIT with " + o);
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
}
