package dev.ferry.engine;

import dev.ferry.spi.HostId;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Bounds how many migrations leave one host at once.
 *
 * <p>Parallel migrations that share a host's link and CPUs starve each other until none of them
 * converges, a failure users of the anchors report again and again; so by default at most
 * {@link #DEFAULT_PER_HOST} migrations run from a host and the next ones wait, in phase SETUP, for a
 * slot. The bound is per source host id within this process. Thread-safe.
 */
final class MigrationSlots {
  static final int DEFAULT_PER_HOST = 2;
  private static final Map<HostId, Semaphore> SLOTS = new ConcurrentHashMap<>();

  private MigrationSlots() {}

  /**
   * Waits for a slot on {@code host}.
   *
   * @param giveUp polled while waiting; when it says true the wait ends without a slot
   * @return whether a slot was taken (then {@link #release} it)
   */
  static boolean acquire(HostId host, BooleanSupplier giveUp) throws InterruptedException {
    Semaphore s = SLOTS.computeIfAbsent(host, h -> new Semaphore(DEFAULT_PER_HOST, true));
    while (!s.tryAcquire(50, TimeUnit.MILLISECONDS)) {
      if (giveUp.getAsBoolean()) {
        return false;
      }
    }
    return true;
  }

  static void release(HostId host) {
    SLOTS.get(host).release();
  }
}
