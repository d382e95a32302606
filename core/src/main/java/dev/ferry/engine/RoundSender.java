package dev.ferry.engine;

import dev.ferry.MigrationException;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.spi.Bandwidth;
import dev.ferry.wire.RemoteErrorException;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Sends the pages of one round over every stream of a migration, and measures the bandwidth it
 * gets.
 *
 * <p>Design note. Pages are partitioned across streams by 64-page block (the word of the round's
 * bitmap), so a page always travels on the same stream and TCP's order keeps its last version last;
 * stream 0 is sent from the migration thread, the others from a pool of one thread each. A round
 * ends with ROUND_END on every stream. The bandwidth is the wire bytes over the time spent sending,
 * counting only rounds of at least 1 MiB (shorter rounds measure latency, not bandwidth), capped by
 * the limit. When a stream fails, the destination's own reason (an ERROR on the return path) is
 * preferred to the socket's: it waits up to {@link #EXPLAIN_WAIT} for it.
 *
 * <p>Confined to the migration thread; the pool's threads only run their stream's share.
 */
final class RoundSender implements AutoCloseable {
  private static final long EXPLAIN_WAIT = 500_000_000L;

  private final SourceContext c;
  private final Handshake.Opened opened;
  private final List<StreamSender> senders = new ArrayList<>();
  private final ExecutorService workers;
  private long sentBytesForRate;
  private long sentNanosForRate;
  private long pagesSent;
  private final java.util.concurrent.atomic.AtomicLong sentThisRound = new java.util.concurrent.atomic.AtomicLong();

  RoundSender(SourceContext c, Handshake.Opened opened) {
    this.c = c;
    this.opened = opened;
    for (Link l : opened.links()) {
      senders.add(new StreamSender(l, c.pageSize, c.compression(), c.limiter, sentThisRound));
    }
    int n = senders.size();
    this.workers = n <= 1 ? null : Executors.newFixedThreadPool(n - 1,
        r -> EngineThreads.daemon(c.threads, r, "ferry-stream-" + c.name()));
  }

  /** Pages the streams have sent so far in the round under way (read from any thread). */
  long sentThisRound() {
    return sentThisRound.get();
  }

  /** Pages sent so far, every round counted. */
  long pagesSent() {
    return pagesSent;
  }

  /** Sends the pages set in {@code bitmap} as round {@code round}. */
  RoundTotals send(long round, long[] bitmap, Runnable checkCancel) {
    sentThisRound.set(0);
    RoundTotals totals = new RoundTotals();
    int n = senders.size();
    try {
      if (n == 1) {
        totals.add(senders.get(0).sendRound((int) round, bitmap, c.pageCount, c.sendMemory, 0, 1, checkCancel));
      } else {
        List<Future<RoundTotals>> futures = new ArrayList<>();
        for (int s = 1; s < n; s++) {
          final int stream = s;
          futures.add(workers.submit(() -> senders.get(stream)
              .sendRound((int) round, bitmap, c.pageCount, c.sendMemory, stream, n, checkCancel)));
        }
        boolean ok = false;
        try {
          totals.add(senders.get(0).sendRound((int) round, bitmap, c.pageCount, c.sendMemory, 0, n, checkCancel));
          ok = true;
        } finally {
          if (!ok) {
            // The migration fails: free the other streams at once instead of letting them finish the round.
            opened.links().forEach(Link::close);
          }
          for (Future<RoundTotals> f : futures) {
            if (ok) {
              totals.add(join(f, round));
            } else {
              joinQuietly(f);
            }
          }
        }
      }
    } catch (IOException e) {
      throw new Abort(Outcome.FAILED, explain("lost the destination in round " + round, e));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new Abort(Outcome.FAILED, new MigrationException("interrupted in round " + round, e));
    }
    pagesSent += totals.pages;
    return totals;
  }

  private RoundTotals join(Future<RoundTotals> f, long round) throws InterruptedException, IOException {
    try {
      return f.get();
    } catch (ExecutionException e) {
      Throwable t = e.getCause();
      if (t instanceof Abort a) {
        throw a;
      }
      if (t instanceof IOException io) {
        throw io;
      }
      if (t instanceof RuntimeException r) {
        throw r;
      }
      if (t instanceof Error err) {
        throw err;
      }
      throw new IOException(t);
    }
  }

  private static void joinQuietly(Future<RoundTotals> f) throws InterruptedException {
    try {
      f.get();
    } catch (ExecutionException ignored) {
      // the first failure is the one reported
    }
  }

  /**
   * The reason for a failed stream: the destination's, if it said one within a moment, else what the
   * socket said.
   */
  MigrationException explain(String what, IOException e) {
    long until = c.now() + EXPLAIN_WAIT;
    Throwable remote = opened.returnPath().failure();
    while (!(remote instanceof RemoteErrorException) && c.now() < until) {
      java.util.concurrent.locks.LockSupport.parkNanos(5_000_000);
      remote = opened.returnPath().failure();
    }
    if (remote instanceof RemoteErrorException r) {
      return Failures.remote(r.remote());
    }
    return Failures.transport(what, e);
  }

  /**
   * Counts a round's sending time toward the bandwidth (rounds under 1 MiB only when nothing else
   * was). A round of mostly zero pages does not count: its time went to reading memory, not to the
   * link (round 0 of a sparse 64 GiB guest: 16 MiB on the wire in 24 s, which made 28 MiB of dirty
   * pages look like a 40 s stop-and-copy).
   */
  void recordRate(RoundTotals sent, long nanos) {
    if ((sent.pages - sent.zeroPages) * 2 < sent.pages) {
      return;
    }
    if (sent.wireBytes >= (1 << 20) || sentBytesForRate == 0) {
      sentBytesForRate += sent.wireBytes;
      sentNanosForRate += nanos;
    }
  }

  /** Bandwidth measured so far (wire bytes over time spent sending), capped by the limit. */
  Bandwidth bandwidth() {
    Bandwidth measured = sentNanosForRate == 0 ? Bandwidth.UNLIMITED
        : Bandwidth.of(sentBytesForRate, Duration.ofNanos(sentNanosForRate));
    Bandwidth cap = c.limiter.rate();
    return measured.compareTo(cap) <= 0 ? measured : cap;
  }

  @Override
  public void close() {
    if (workers != null) {
      workers.shutdownNow();
      try {
        workers.awaitTermination(1, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
