package dev.ferry.engine;

import dev.ferry.spi.Bandwidth;
import java.util.concurrent.locks.LockSupport;

/**
 * Paces the bytes put on the wire to a rate, smoothly.
 *
 * <p>Design: a virtual-time scheduler rather than a bucket refilled per round. Each send of
 * {@code n} bytes is given a start time {@code max(now, next)} and moves {@code next} on by
 * {@code n / rate}; the sender sleeps until its start time. With frames of a few hundred KiB the
 * rate is held at a granularity of milliseconds, so a capped migration never sends a round in a
 * burst and then sleeps. Idle time is not banked beyond {@link #MAX_CREDIT_NANOS}, so a sender that
 * paused cannot burst afterwards. Shared by all the streams of a migration. Thread-safe.
 */
final class RateLimiter {
  private static final long MAX_CREDIT_NANOS = 5_000_000; // 5 ms of burst at most

  private final dev.ferry.Ticker ticker;
  private volatile long bytesPerSecond;
  private long next; // guarded by this: the virtual time at which the next send may start

  RateLimiter(Bandwidth rate, dev.ferry.Ticker ticker) {
    this.ticker = ticker;
    setRate(rate);
    this.next = ticker.read();
  }

  void setRate(Bandwidth rate) {
    this.bytesPerSecond = rate.bytesPerSecond();
  }

  Bandwidth rate() {
    return new Bandwidth(bytesPerSecond);
  }

  /**
   * Waits until {@code bytes} may be sent.
   *
   * @throws InterruptedException if interrupted while waiting
   */
  void acquire(long bytes) throws InterruptedException {
    long rate = bytesPerSecond;
    if (rate == Long.MAX_VALUE) {
      return;
    }
    long start;
    synchronized (this) {
      long now = ticker.read();
      if (next < now - MAX_CREDIT_NANOS) {
        next = now - MAX_CREDIT_NANOS;
      }
      start = next;
      next += (long) (bytes * 1e9 / rate);
    }
    long wait;
    while ((wait = start - ticker.read()) > 0) {
      LockSupport.parkNanos(wait);
      if (Thread.interrupted()) {
        throw new InterruptedException("interrupted while pacing to " + new Bandwidth(rate));
      }
    }
  }
}
