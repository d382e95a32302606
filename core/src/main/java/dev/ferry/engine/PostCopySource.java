package dev.ferry.engine;

import dev.ferry.GuestLostException;
import dev.ferry.PostCopyStats;
import dev.ferry.TransportException;
import dev.ferry.wire.ErrorCode;
import dev.ferry.wire.Message;
import dev.ferry.wire.PageBatchEncoder;
import dev.ferry.wire.ProtocolException;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The source's side of post-copy, after the guest has resumed on the destination: serve the pages
 * the destination asks for, push the rest, and survive a broken link.
 *
 * <p>Algorithm (after Hines and Gopalan, "Post-Copy Based Live Virtual Machine Migration Using
 * Adaptive Pre-Paging and Dynamic Self-Ballooning", VEE 2009, and QEMU's postcopy-ram): the source
 * holds the paused guest's memory, frozen, and a bitmap of the pages the destination lacks. Each
 * turn of the loop first drains the destination's page requests (sent as it faults) and sends each
 * requested page together with the next {@link #PREPAGE} missing pages after it, on the bet that
 * the guest touches memory near where it faulted; then it pushes one batch of the background sweep.
 * Every page goes once: the destination ignores a page it already holds, so nothing it wrote is
 * ever overwritten.
 *
 * <p>Failure rules (during post-copy a broken link pauses the guest and waits for recovery; it
 * never resumes a stale source): the destination is authoritative from the moment it resumed. When
 * the link breaks, or the destination sends something malformed, this side reconnects with RECOVER
 * until the recovery window ends; the destination answers with the pages it still lacks and the push
 * starts again from that bitmap, as QEMU's postcopy recovery does. If the window passes, the guest
 * is lost; the source copy, stale since the destination ran, stays paused and is never resumed.
 *
 * <p>Bounds: what the destination sends is checked where it is decoded (a page request names pages
 * inside guest memory, at most {@link #MAX_REQUEST} at once; a MISSING bitmap has exactly one word
 * per 64 pages); requests wait in a queue of at most {@link #QUEUE} pages, and a request that finds
 * it full is dropped (the background push sends that page anyway); every read and write is bounded
 * by the peer timeout, and the destination's keepalives keep the link alive while it has nothing to
 * ask. Each link is closed when it is replaced and at the end.
 *
 * <p>Confined to the migration thread, but for the return-path reader, which hands frames over
 * through thread-safe queues.
 */
final class PostCopySource {
  private static final Logger log = LoggerFactory.getLogger(PostCopySource.class);
  static final int PREPAGE = 15;
  static final int MAX_REQUEST = 1024;
  static final int QUEUE = 64 * 1024;
  private static final long EVENT_NANOS = 100_000_000;

  /** Receives post-copy's progress every {@code EVENT_NANOS}. */
  interface Listener {
    void progress(long pagesMissing, PostCopyStats stats);
  }

  private final SourceContext c;
  private final Listener listener;
  private final PageBatchEncoder encoder;
  private final long startNanos;
  private final long[] initialMissing;
  private long[] missing;
  private long[] sent;
  private long unsent;
  private Link link;
  private final Link initialLink;
  private long recoveryBytes;
  private volatile Reader reader;
  private long requested;
  private long prepaged;
  private long pushed;
  private long droppedRequests;
  private int recoveries;
  private long cursor;

  PostCopySource(SourceContext c, Link control, long[] missing, Listener listener) {
    this.c = c;
    this.listener = listener;
    this.link = control;
    this.initialLink = control;
    this.encoder = new PageBatchEncoder(c.pageSize, c.compression());
    this.startNanos = c.now();
    this.initialMissing = missing.clone();
    restart(missing);
  }

  /** What the loop ended with. */
  record Outcome(boolean completed, PostCopyStats stats, GuestLostException lost) {}

  /**
   * Serves and pushes until the destination holds every page, or the link stays down past the
   * recovery window.
   *
   * @param linkBroken whether the control stream is known broken at the start (the commit was
   *     settled by asking the destination): then it recovers first
   */
  Outcome run(boolean linkBroken) {
    try {
      if (linkBroken) {
        if (!recover("the control stream failed at the commit")) {
          return new Outcome(false, stats(null), lost());
        }
      } else {
        reader = new Reader(link);
      }
      long lastEvent = 0;
      while (true) {
        Reader r = reader;
        Message.PostCopyComplete done = r.complete;
        if (done != null) {
          return new Outcome(true, stats(done), null);
        }
        try {
          if (r.failure != null) {
            throw r.failure;
          }
          Long page;
          while ((page = r.requests.poll()) != null) {
            serve(page);
          }
          flush();
          if (unsent > 0) {
            pushBatch();
            flush();
          } else {
            // Everything is on its way: wait for the destination to say it holds it all.
            LockSupport.parkNanos(r, 1_000_000);
          }
        } catch (IOException e) {
          log.warn("post-copy link to {} failed with {} pages still unsent: {}", c.target.address(), unsent,
              e.toString());
          if (!recover(e.toString())) {
            return new Outcome(false, stats(null), lost());
          }
        }
        long now = c.now();
        if (now - lastEvent > EVENT_NANOS) {
          lastEvent = now;
          listener.progress(unsent, stats(null));
        }
      }
    } finally {
      Reader r = reader;
      if (r != null) {
        r.stop();
      }
      closeLink(link);
    }
  }

  private void restart(long[] missingNow) {
    this.missing = missingNow.clone();
    this.sent = new long[missing.length];
    long n = 0;
    for (long w : missing) {
      n += Long.bitCount(w);
    }
    this.unsent = n;
    this.cursor = 0;
  }

  private boolean isUnsent(long page) {
    int w = (int) (page >>> 6);
    long bit = 1L << page;
    return (missing[w] & bit) != 0 && (sent[w] & bit) == 0;
  }

  private void add(long page) throws IOException {
    if (!encoder.add(page, c.memory)) {
      flush();
      encoder.add(page, c.memory);
    }
    sent[(int) (page >>> 6)] |= 1L << page;
    unsent--;
  }

  /** A requested page, then the next missing pages after it (pre-paging). */
  private void serve(long page) throws IOException {
    if (isUnsent(page)) {
      add(page);
      requested++;
    }
    int extra = 0;
    for (long p = page + 1; p < c.pageCount && extra < PREPAGE && p < page + 8 * PREPAGE; p++) {
      if (isUnsent(p)) {
        add(p);
        prepaged++;
        extra++;
      }
    }
  }

  /** One batch of the background sweep, in page order from where it stopped. */
  private void pushBatch() throws IOException {
    int room = encoder.maxPages() - encoder.size();
    while (room > 0 && cursor < c.pageCount) {
      int w = (int) (cursor >>> 6);
      long bits = missing[w] & ~sent[w] & (-1L << cursor);
      if (bits == 0) {
        cursor = ((long) w + 1) << 6;
        continue;
      }
      long page = ((long) w << 6) + Long.numberOfTrailingZeros(bits);
      if (page >= c.pageCount) {
        cursor = c.pageCount;
        break;
      }
      add(page);
      pushed++;
      room--;
      cursor = page + 1;
    }
  }

  private void flush() throws IOException {
    if (encoder.isEmpty()) {
      return;
    }
    long bytes = link.sendPages(encoder);
    try {
      c.limiter.acquire(bytes);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
  }

  /** Bytes written on the control streams opened by recoveries (the first one is the engine's). */
  long recoveryWireBytes() {
    return recoveryBytes + (link == initialLink ? 0 : link.writer.bytesWritten());
  }

  // ---------------------------------------------------------------- recovery

  private boolean recover(String why) {
    Reader r = reader;
    if (r != null) {
      r.stop();
    }
    closeLink(link);
    encoder.clear();
    Duration window = c.options.postCopyRecoveryTimeout();
    long deadline = c.now() + window.toNanos();
    int attempt = 0;
    long maxAttempts = 2 + window.toMillis() / 100; // bounded in count, whatever the clock does
    while (c.now() - deadline < 0 && attempt < maxAttempts) {
      attempt++;
      Link l = null;
      try {
        long left = Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - c.now()));
        l = c.connect(Duration.ofMillis(Math.min(left, c.options.connectTimeout().toMillis())));
        l.send(new Message.Recover(c.sessionId));
        l.reader.maxPayload(dev.ferry.wire.WireFormat.DEFAULT_MAX_PAYLOAD);
        Message m = l.receive();
        if (m instanceof Message.Missing missingNow) {
          long[] bitmap = missingNow.bitmap();
          requireBitmap(bitmap, "MISSING");
          if (link != initialLink) {
            recoveryBytes += link.writer.bytesWritten();
          }
          link = l;
          l.keepalive(true);
          restart(bitmap);
          recoveries++;
          reader = new Reader(l);
          log.info("post-copy recovered after {} attempt(s) ({}): {} pages still missing", attempt, why, unsent);
          return true;
        }
        closeLink(l);
        if (m instanceof Message.ErrorMessage err && err.code() == ErrorCode.BUSY) {
          log.debug("destination not ready for recovery yet: {}", err.message());
          LockSupport.parkNanos(50_000_000);
          continue;
        }
        log.error("destination refused post-copy recovery: {}", m);
        return false;
      } catch (TransportException | IOException e) {
        closeLink(l);
        log.debug("post-copy recovery attempt {} failed: {}", attempt, e.toString());
        LockSupport.parkNanos(100_000_000);
      }
    }
    return false;
  }

  private void requireBitmap(long[] bitmap, String what) throws ProtocolException {
    long words = (c.pageCount + 63) >>> 6;
    if (bitmap.length != words) {
      throw new ProtocolException(what + " bitmap has " + bitmap.length + " words for " + c.pageCount
          + " pages (" + words + " expected)");
    }
    int tail = (int) (c.pageCount & 63);
    if (tail != 0 && (bitmap[bitmap.length - 1] & (-1L << tail)) != 0) {
      throw new ProtocolException(what + " bitmap marks pages beyond the guest's " + c.pageCount);
    }
    for (int i = 0; i < bitmap.length; i++) {
      if ((bitmap[i] & ~initialMissing[i]) != 0) {
        throw new ProtocolException(what + " bitmap marks pages missing that the destination had at the switch");
      }
    }
  }

  private void closeLink(Link l) {
    if (l != null) {
      c.watchdog.forget(l);
      l.close();
    }
  }

  private GuestLostException lost() {
    long count = 0;
    List<Long> first = new ArrayList<>();
    for (int w = 0; w < missing.length; w++) {
      long bits = missing[w] & ~sent[w];
      count += Long.bitCount(bits);
      while (bits != 0 && first.size() < 64) {
        first.add(((long) w << 6) + Long.numberOfTrailingZeros(bits));
        bits &= bits - 1;
      }
    }
    long unconfirmed = 0;
    for (long w : missing) {
      unconfirmed += Long.bitCount(w);
    }
    long[] firstArr = first.stream().mapToLong(Long::longValue).toArray();
    return new GuestLostException("post-copy link to " + c.target.address().getHostString() + ":"
        + c.target.address().getPort() + " stayed down longer than the recovery timeout of "
        + c.options.postCopyRecoveryTimeout().toSeconds() + " s; " + count + " pages were never sent and up to "
        + unconfirmed + " may not have reached the destination (first unsent: " + first + "); the source copy is "
        + "stale and stays paused", unconfirmed, firstArr);
  }

  /** What {@link PostCopyStats#notMeasured} says until the destination has reported. */
  static final String NOT_YET_REPORTED = "faults and blocked times (the destination reports them when post-copy"
      + " completes)";

  private PostCopyStats stats(Message.PostCopyComplete done) {
    Duration d = Duration.ofNanos(c.now() - startNanos);
    if (done == null) {
      // The guest's faults and how long its vCPUs waited are counted on the destination, which
      // reports them when it holds every page (POSTCOPY_COMPLETE): until then they are not known.
      return new PostCopyStats(d, 0, Duration.ZERO, Duration.ZERO, Duration.ZERO, Duration.ZERO, requested,
          prepaged, pushed, recoveries, java.util.Optional.of(NOT_YET_REPORTED));
    }
    return new PostCopyStats(d, done.faults(), Duration.ofNanos(done.blockedNanosTotal()),
        Duration.ofNanos(done.blockedNanosP50()), Duration.ofNanos(done.blockedNanosP99()),
        Duration.ofNanos(done.blockedNanosMax()), requested, prepaged, pushed, recoveries);
  }

  long droppedRequests() {
    return droppedRequests;
  }

  /** Reads the destination's page requests and its completion on a thread of its own. */
  private final class Reader implements Runnable {
    final Link link;
    final ArrayBlockingQueue<Long> requests = new ArrayBlockingQueue<>(QUEUE);
    final Thread owner = Thread.currentThread();
    volatile IOException failure;
    volatile Message.PostCopyComplete complete;
    volatile boolean stopped;

    Reader(Link link) {
      this.link = link;
      EngineThreads.daemon(c.threads, this, "ferry-postcopy-return-" + c.name()).start();
    }

    @Override
    public void run() {
      try {
        while (!stopped) {
          Message m = link.receive();
          if (m instanceof Message.PageRequest pr) {
            if (pr.count() > MAX_REQUEST || pr.firstPage() >= c.pageCount || pr.count() > c.pageCount - pr.firstPage()) {
              throw new ProtocolException("PAGE_REQUEST for pages [" + pr.firstPage() + ", +" + pr.count()
                  + ") outside guest memory of " + c.pageCount + " pages or over " + MAX_REQUEST + " at once");
            }
            for (int i = 0; i < pr.count(); i++) {
              if (!requests.offer(pr.firstPage() + i)) {
                droppedRequests++; // the background push sends it anyway
              }
            }
          } else if (m instanceof Message.PostCopyComplete done) {
            complete = done;
            return;
          } else if (m instanceof Message.Ping ping) {
            link.send(new Message.Pong(ping.nanos()));
          } else if (m instanceof Message.ErrorMessage err) {
            failure = new IOException("destination: " + err.code() + ": " + err.message());
            return;
          } else if (!(m instanceof Message.Pong || m instanceof Message.RoundAck)) {
            throw new ProtocolException("the destination sent " + m.type() + " during post-copy");
          }
          LockSupport.unpark(owner);
        }
      } catch (IOException | RuntimeException e) {
        if (!stopped) {
          failure = e instanceof IOException io ? io : new IOException(e.toString(), e);
        }
      } finally {
        LockSupport.unpark(owner);
      }
    }

    void stop() {
      stopped = true;
    }
  }
}
