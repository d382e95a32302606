package dev.ferry.engine;

import dev.ferry.GuestLostException;
import dev.ferry.MigrationTarget;
import dev.ferry.PostCopyStats;
import dev.ferry.TransportException;
import dev.ferry.spi.GuestMemory;
import dev.ferry.wire.Message;
import dev.ferry.wire.PageBatchEncoder;
import dev.ferry.wire.WireCompression;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
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
 * <p>Failure rules (DESIGN.md): the destination is authoritative from the moment it resumed. When
 * the link breaks, this side reconnects with RECOVER until the recovery window ends; the
 * destination answers with the pages it still lacks and the push starts again from that bitmap, as
 * QEMU's postcopy recovery does. If the window passes, the guest is lost; the source copy, stale
 * since the destination ran, stays paused and is never resumed.
 *
 * <p>Confined to the migration thread, but for the return-path reader, which hands frames over
 * through thread-safe queues.
 */
final class PostCopySource {
  private static final Logger log = LoggerFactory.getLogger(PostCopySource.class);
  static final int PREPAGE = 15;
  private static final long EVENT_NANOS = 100_000_000;

  private final SourceMigration owner;
  private final GuestMemory memory;
  private final long pageCount;
  private final MigrationTarget target;
  private final UUID sessionId;
  private final Duration recoveryTimeout;
  private final Duration connectTimeout;
  private final RateLimiter limiter;
  private final PageBatchEncoder encoder;
  private long[] missing;
  private long[] sent;
  private long unsent;
  private Link link;
  private final Link initialLink;
  private long recoveryBytes;
  private volatile ReturnPath returnPath;
  private long requested;
  private long prepaged;
  private long pushed;
  private int recoveries;
  private long cursor;
  private final long startNanos = System.nanoTime();

  PostCopySource(SourceMigration owner, GuestMemory memory, Link control, long[] missing, MigrationTarget target,
      UUID sessionId, Duration recoveryTimeout, Duration connectTimeout, RateLimiter limiter,
      WireCompression compression) {
    this.owner = owner;
    this.memory = memory;
    this.pageCount = memory.pageCount();
    this.link = control;
    this.initialLink = control;
    this.target = target;
    this.sessionId = sessionId;
    this.recoveryTimeout = recoveryTimeout;
    this.connectTimeout = connectTimeout;
    this.limiter = limiter;
    this.encoder = new PageBatchEncoder(memory.pageSize(), compression);
    restart(missing);
  }

  /** What the loop ended with. */
  record Outcome(boolean completed, PostCopyStats stats, GuestLostException lost) {}

  Outcome run() {
    returnPath = new ReturnPath(link);
    long lastEvent = 0;
    Message.PostCopyComplete done = null;
    while (done == null) {
      try {
        done = returnPath.complete;
        if (done != null) {
          break;
        }
        if (returnPath.failure != null) {
          throw returnPath.failure;
        }
        Long r;
        while ((r = returnPath.requests.poll()) != null) {
          serve(r);
        }
        flush();
        if (unsent > 0) {
          pushBatch();
          flush();
        } else {
          // Everything is on its way: wait for the destination to say it holds it all.
          LockSupport.parkNanos(returnPath, 1_000_000);
        }
      } catch (IOException e) {
        log.warn("post-copy link to {} broke with {} pages still unsent: {}", target.address(), unsent, e.toString());
        if (!recover()) {
          return new Outcome(false, stats(null), lost());
        }
      }
      long now = System.nanoTime();
      if (now - lastEvent > EVENT_NANOS) {
        lastEvent = now;
        owner.postCopyProgress(unsent, stats(null));
      }
    }
    returnPath.stop();
    return new Outcome(true, stats(done), null);
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
    if (!encoder.add(page, memory)) {
      flush();
      encoder.add(page, memory);
    }
    sent[(int) (page >>> 6)] |= 1L << page;
    unsent--;
  }

  /** A requested page, then the next missing pages after it (pre-paging). */
  private void serve(long page) throws IOException {
    if (page < 0 || page >= pageCount) {
      throw new IOException("destination requested page " + page + " outside guest memory");
    }
    if (isUnsent(page)) {
      add(page);
      requested++;
    }
    int extra = 0;
    for (long p = page + 1; p < pageCount && extra < PREPAGE && p < page + 8 * PREPAGE; p++) {
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
    while (room > 0 && cursor < pageCount) {
      int w = (int) (cursor >>> 6);
      long bits = missing[w] & ~sent[w] & (-1L << cursor);
      if (bits == 0) {
        cursor = ((long) w + 1) << 6;
        continue;
      }
      long page = ((long) w << 6) + Long.numberOfTrailingZeros(bits);
      if (page >= pageCount) {
        cursor = pageCount;
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
    long before = link.writer.bytesWritten();
    encoder.flush(link.writer);
    try {
      limiter.acquire(link.writer.bytesWritten() - before);
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

  private boolean recover() {
    returnPath.stop();
    link.close();
    encoder.clear();
    long deadline = System.nanoTime() + recoveryTimeout.toNanos();
    int attempt = 0;
    while (System.nanoTime() < deadline) {
      attempt++;
      Link l = null;
      try {
        long left = Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
        l = Link.connect(target.address(), Duration.ofMillis(Math.min(left, connectTimeout.toMillis())));
        l.send(new Message.Recover(sessionId, target.token()));
        Message m = l.receive();
        if (m instanceof Message.Missing missingNow) {
          if (link != initialLink) {
            recoveryBytes += link.writer.bytesWritten();
          }
          link = l;
          restart(missingNow.bitmap());
          recoveries++;
          returnPath = new ReturnPath(l);
          log.info("post-copy recovered after {} attempt(s): {} pages still missing", attempt, unsent);
          return true;
        }
        l.close();
        if (m instanceof Message.ErrorMessage err && err.code() == dev.ferry.wire.ErrorCode.BUSY) {
          log.debug("destination not ready for recovery yet: {}", err.message());
          continue;
        }
        log.error("destination refused post-copy recovery: {}", m);
        return false;
      } catch (TransportException | IOException e) {
        Link.closeQuietly(l);
        log.debug("post-copy recovery attempt {} failed: {}", attempt, e.toString());
        LockSupport.parkNanos(200_000_000);
      }
    }
    return false;
  }

  private GuestLostException lost() {
    long count = 0;
    List<Long> first = new ArrayList<>();
    for (int w = 0; w < missing.length; w++) {
      long bits = missing[w];
      count += Long.bitCount(bits);
      while (bits != 0 && first.size() < 64) {
        first.add(((long) w << 6) + Long.numberOfTrailingZeros(bits));
        bits &= bits - 1;
      }
    }
    long[] firstArr = first.stream().mapToLong(Long::longValue).toArray();
    return new GuestLostException("post-copy link to " + target.address().getHostString() + ":"
        + target.address().getPort() + " stayed down longer than the recovery timeout of "
        + recoveryTimeout.toSeconds() + " s; up to " + count + " pages may not have reached the destination"
        + " (first: " + first + "); the source copy is stale and stays paused", count, firstArr);
  }

  private PostCopyStats stats(Message.PostCopyComplete done) {
    Duration d = Duration.ofNanos(System.nanoTime() - startNanos);
    if (done == null) {
      return new PostCopyStats(d, 0, Duration.ZERO, Duration.ZERO, Duration.ZERO, Duration.ZERO, requested,
          prepaged, pushed, recoveries);
    }
    return new PostCopyStats(d, done.faults(), Duration.ofNanos(done.blockedNanosTotal()),
        Duration.ofNanos(done.blockedNanosP50()), Duration.ofNanos(done.blockedNanosP99()),
        Duration.ofNanos(done.blockedNanosMax()), requested, prepaged, pushed, recoveries);
  }

  /** Reads the destination's page requests and its completion on a thread of its own. */
  private final class ReturnPath implements Runnable {
    final Link link;
    final ConcurrentLinkedQueue<Long> requests = new ConcurrentLinkedQueue<>();
    final Thread owner = Thread.currentThread();
    volatile IOException failure;
    volatile Message.PostCopyComplete complete;
    volatile boolean stopped;

    ReturnPath(Link link) {
      this.link = link;
      Thread t = new Thread(this, "ferry-postcopy-return");
      t.setDaemon(true);
      t.start();
    }

    @Override
    public void run() {
      try {
        while (!stopped) {
          Message m = link.receive();
          if (m instanceof Message.PageRequest pr) {
            for (int i = 0; i < Math.min(pr.count(), 1024); i++) {
              requests.add(pr.firstPage() + i);
            }
          } else if (m instanceof Message.PostCopyComplete c) {
            complete = c;
            return;
          } else if (m instanceof Message.ErrorMessage err) {
            failure = new IOException("destination: " + err.code() + ": " + err.message());
            return;
          }
          LockSupport.unpark(owner);
        }
      } catch (IOException | RuntimeException e) {
        if (!stopped) {
          failure = e instanceof IOException io ? io : new IOException(e);
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
