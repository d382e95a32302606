package dev.ferry.engine;

import dev.ferry.MigrationRefusedException;
import dev.ferry.spi.HostId;
import dev.ferry.spi.VmId;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Bounds how many migrations leave one host at once, and lets a VM be in one migration at a time;
 * both planes (Ferry's own and a hypervisor's) take the same slots.
 *
 * <p>Parallel migrations that share a host's link and CPUs starve each other until none of them
 * converges, a failure users of the anchors report again and again; so by default at most
 * {@link #DEFAULT_PER_HOST} migrations run from a host and the next ones wait, in phase SETUP, for a
 * slot. A second migration of a VM already being migrated is refused at once: it would clear the
 * first one's dirty marks, or ask the hypervisor for a job it already runs. Both bounds hold within
 * this process, per source host id and per VM id. Thread-safe.
 */
final class MigrationSlots {
  static final int DEFAULT_PER_HOST = 2;
  private static final Map<HostId, Semaphore> SLOTS = new ConcurrentHashMap<>();
  private static final Set<VmId> MIGRATING = ConcurrentHashMap.newKeySet();

  private MigrationSlots() {}

  /**
   * Marks {@code vm} as being migrated.
   *
   * @throws MigrationRefusedException if it is already
   */
  static void claimVm(VmId vm, String name) {
    if (!MIGRATING.add(vm)) {
      throw new MigrationRefusedException("VM '" + name + "' is being migrated already");
    }
  }

  static void releaseVm(VmId vm) {
    MIGRATING.remove(vm);
  }

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

  /** Takes a slot on {@code host} if one is free now. */
  static boolean tryAcquire(HostId host) {
    return SLOTS.computeIfAbsent(host, h -> new Semaphore(DEFAULT_PER_HOST, true)).tryAcquire();
  }

  static void release(HostId host) {
    SLOTS.get(host).release();
  }
}
