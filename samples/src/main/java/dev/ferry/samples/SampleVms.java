package dev.ferry.samples;

import dev.ferry.spi.DirtyLog;
import dev.ferry.sim.SimVm;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/** What the samples do to a simulated VM before migrating it. */
final class SampleVms {
  private SampleVms() {}

  /**
   * Measures the distinct pages the guest dirties per second over {@code window}, with the VM's own
   * dirty log, as the migration engine sees it.
   */
  static long dirtyPagesPerSecond(SimVm vm, Duration window) throws InterruptedException {
    DirtyLog log = vm.dirtyLog().orElseThrow();
    long[] bitmap = new long[(int) ((vm.description().pageCount() + 63) >>> 6)];
    log.start();
    try {
      long t0 = System.nanoTime();
      TimeUnit.NANOSECONDS.sleep(window.toNanos());
      long pages = log.syncAndClear(bitmap);
      return (long) (pages * 1e9 / (System.nanoTime() - t0));
    } finally {
      log.stop();
    }
  }
}
