package dev.ferry.engine;

import dev.ferry.Ticker;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Bounds every wait on a set of {@link Link}s: closes a link whose read or write has waited on the
 * peer longer than the peer timeout, or whose handshake passed its deadline, and sends keepalives
 * on links that promise the peer traffic.
 *
 * <p>Design note. One watchdog serves one owner (a source migration, or a receiver and all its
 * sessions). {@link #check(long)} is the whole policy and takes the time as an argument, so a test
 * drives it with a fake {@link Ticker} and no sleep; {@link #start()} runs it every
 * {@code timeout / 8} (at most every 250 ms) on a thread of its own. A keepalive is due when a
 * link with keepalive on has not been written for a quarter of the timeout; it is sent from a
 * second thread, because a write can block (a peer that stopped reading) and the checker must
 * stay free to notice that and close the link. A peer that is alive and silent, such as a process
 * stopped with SIGSTOP or a relay that stopped forwarding, is therefore seen within the timeout on
 * both ends: nothing arrives on the control stream, whose reads are bounded, and writes to it stop
 * draining.
 *
 * <p>Thread-safe. {@link #close()} stops its threads; links are not closed by it.
 */
final class LinkWatchdog implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(LinkWatchdog.class);
  private static final long MAX_TICK_NANOS = 250_000_000L;

  private final Ticker ticker;
  private final long timeoutNanos;
  private final String name;
  private final ThreadFactory threads;
  private final Set<Link> links = ConcurrentHashMap.newKeySet();
  private final Set<Link> pinging = ConcurrentHashMap.newKeySet();
  private ScheduledExecutorService checker;
  private ExecutorService pinger;

  LinkWatchdog(Ticker ticker, Duration timeout, ThreadFactory threads, String name) {
    this.ticker = ticker;
    this.timeoutNanos = timeout.toNanos();
    this.threads = threads;
    this.name = name;
  }

  Ticker ticker() {
    return ticker;
  }

  Duration timeout() {
    return Duration.ofNanos(timeoutNanos);
  }

  /** Starts checking on threads of its own. Idempotent. */
  synchronized LinkWatchdog start() {
    if (checker == null) {
      ScheduledThreadPoolExecutor c = new ScheduledThreadPoolExecutor(1, r -> EngineThreads.daemon(threads, r,
          "ferry-watchdog-" + name));
      c.setRemoveOnCancelPolicy(true);
      long tick = Math.max(1_000_000L, Math.min(MAX_TICK_NANOS, timeoutNanos / 8));
      c.scheduleWithFixedDelay(() -> {
        try {
          check(ticker.read());
        } catch (RuntimeException e) {
          log.warn("link watchdog {} failed a check", name, e);
        }
      }, tick, tick, TimeUnit.NANOSECONDS);
      checker = c;
      // No thread while there is nothing to ping: the one thread ends after a peer timeout of idleness.
      pinger = new ThreadPoolExecutor(0, 1, timeoutNanos, TimeUnit.NANOSECONDS, new LinkedBlockingQueue<>(),
          r -> EngineThreads.daemon(threads, r, "ferry-keepalive-" + name));
    }
    return this;
  }

  /**
   * Runs {@code task} once after {@code delayNanos} of real time on the checker's thread (which must
   * not block). Does nothing if the watchdog is not started or already closed.
   */
  synchronized void schedule(Runnable task, long delayNanos) {
    if (checker != null && !checker.isShutdown()) {
      checker.schedule(() -> {
        try {
          task.run();
        } catch (RuntimeException e) {
          log.warn("link watchdog {}: a scheduled task failed", name, e);
        }
      }, Math.max(0, delayNanos), TimeUnit.NANOSECONDS);
    }
  }

  void watch(Link link) {
    links.add(link);
  }

  void forget(Link link) {
    links.remove(link);
  }

  int watched() {
    return links.size();
  }

  /**
   * Closes what is stuck at time {@code now} and sends what keepalives are due. Returns how many
   * links it closed.
   */
  int check(long now) {
    int closed = 0;
    for (Link l : links) {
      if (!l.isOpen()) {
        links.remove(l);
        continue;
      }
      String why = stuck(l, now);
      if (why != null) {
        log.warn("{}: {}", name, why);
        l.fail(why);
        links.remove(l);
        closed++;
      } else if (l.keepalive() && now - l.lastWriteAt() >= timeoutNanos / 4 && l.writeStartedAt() == 0) {
        keepalive(l, now);
      }
    }
    return closed;
  }

  private String stuck(Link l, long now) {
    if (now - l.closeAtNanos() >= 0) {
      return l.closeAtReason();
    }
    long w = l.writeStartedAt();
    if (w != 0 && now - w > timeoutNanos) {
      return l.peer() + " took no data for " + millis(now - w) + " ms (peer timeout " + millis(timeoutNanos)
          + " ms): it stopped reading";
    }
    long r = l.readStartedAt();
    if (r != 0 && l.readsTimed() && now - r > timeoutNanos) {
      return l.peer() + " sent nothing for " + millis(now - r) + " ms (peer timeout " + millis(timeoutNanos)
          + " ms): it is gone or stopped";
    }
    return null;
  }

  private void keepalive(Link l, long now) {
    ExecutorService p;
    synchronized (this) {
      p = pinger;
    }
    if (p == null) {
      l.keepaliveNow(now); // not started: a test drives check() itself
      return;
    }
    if (pinging.add(l)) {
      try {
        p.execute(() -> {
          try {
            l.keepaliveNow(now);
          } finally {
            pinging.remove(l);
          }
        });
      } catch (java.util.concurrent.RejectedExecutionException e) {
        pinging.remove(l);
      }
    }
  }

  private static long millis(long nanos) {
    return nanos / 1_000_000;
  }

  @Override
  public synchronized void close() {
    if (checker != null) {
      checker.shutdownNow();
      pinger.shutdownNow();
    }
    links.clear();
  }
}
