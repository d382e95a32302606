package dev.ferry;

import dev.ferry.policy.PolicySimulator;
import dev.ferry.policy.PreCopyModel;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.DirtyLog;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmDriver;
import dev.ferry.wire.WireFormat;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Estimates a migration before it starts; see {@link Ferry#plan}.
 *
 * <p>Design note. The measurement runs the VM's own dirty log for a short window split in two
 * halves: the pages dirtied in the second half give the dirty rate; those dirtied in both halves
 * are the working set W (rewritten whatever the interval); the rest, over the half-window, is the
 * rate c at which the guest dirties memory outside it. That is the {@link PreCopyModel}; the
 * migration's policy then runs against it in a {@link PolicySimulator}. The dirty log costs the
 * guest nothing on the simulated backend and what a sync costs on others (as QEMU's
 * {@code calc-dirty-rate} in dirty-bitmap mode); it cannot run while a migration of the VM is.
 */
final class Planner {
  /** The round trip assumed before a connection has measured one: 1 ms. */
  private static final long ASSUMED_RTT_NANOS = 1_000_000;

  private Planner() {}

  static MigrationPlan plan(VmDriver vm, Bandwidth link, MigrationOptions options, Duration window) {
    if (window.isNegative() || window.toMillis() < 20) {
      throw new IllegalArgumentException("measurement window must be at least 20 ms: " + window);
    }
    Bandwidth rate = link.compareTo(options.bandwidthLimit()) <= 0 ? link : options.bandwidthLimit();
    if (rate.isUnlimited() || rate.bytesPerSecond() == 0) {
      throw new IllegalArgumentException("the plan needs the link's bandwidth (or a bandwidth limit in the options)");
    }
    VmDescription desc = vm.description();
    DirtyLog log = vm.dirtyLog().orElseThrow(() -> new MigrationRefusedException("VM '" + desc.name()
        + "' has no dirty log to measure its dirty rate with"));
    int words = (int) ((desc.pageCount() + 63) >>> 6);
    long[] first = new long[words];
    long[] second = new long[words];
    long half = window.toNanos() / 2;
    long dirtySecond;
    long both = 0;
    long seconds0;
    if (log.isActive()) {
      // Starting it again would clear the marks of whoever uses it: a migration would lose writes.
      throw new MigrationRefusedException("VM '" + desc.name() + "' has its dirty log in use (a migration "
          + "or another measurement runs): plan before migrating, not during");
    }
    log.start();
    try {
      sleep(half);
      log.syncAndClear(first);
      seconds0 = System.nanoTime();
      sleep(half);
      dirtySecond = log.syncAndClear(second);
      half = System.nanoTime() - seconds0;
    } finally {
      log.stop();
    }
    for (int i = 0; i < words; i++) {
      both += Long.bitCount(first[i] & second[i]);
    }
    int pageSize = desc.pageSize();
    double halfSeconds = half / 1e9;
    double workingSet = (double) both * pageSize;
    double cold = Math.max(0, (dirtySecond - both) * (double) pageSize / halfSeconds);
    // The parts of a stop-and-copy besides the pages, as the engine's switchover model predicts them
    // before it has measured this migration (verification adds nothing that grows with memory).
    double overhead = dev.ferry.engine.SwitchoverModel.fixedParts(ASSUMED_RTT_NANOS, rate).total().toNanos() / 1e9;
    int throttle = vm.throttle().map(t -> t.percent()).orElse(0);
    PreCopyModel model = new PreCopyModel(desc.memory().bytes(), rate.bytesPerSecond(), workingSet, cold, throttle,
        overhead, PreCopyModel.MIN_ROUND_SECONDS);
    // Round 0 sends what may hold data, each page with its entry header; the rest is zeros, which go
    // as zero runs (one entry for up to MAX_ZERO_RUN pages).
    long resident = vm.memory().map(m -> Math.min(desc.memory().bytes(), Math.max(0, m.residentBytes())))
        .orElse(desc.memory().bytes());
    double zeroPages = (desc.memory().bytes() - resident) / (double) pageSize;
    double firstPass = resident * (1 + (double) WireFormat.PAGE_ENTRY_HEADER / pageSize)
        + Math.ceil(zeroPages / WireFormat.MAX_ZERO_RUN) * (WireFormat.PAGE_ENTRY_HEADER + 4);
    PolicySimulator sim = new PolicySimulator(model, pageSize, options.maxDowntime(), options.deadline(),
        vm.throttle().isPresent(), options.allowPostCopy(), firstPass);
    PolicySimulator.Run run = sim.run(options.policy());
    return new MigrationPlan(desc.name(), desc.memory(), rate, window, pageSize, (long) (dirtySecond / halfSeconds),
        DataSize.bytes(both * pageSize), String.valueOf(options.policy()), model, run);
  }

  private static void sleep(long nanos) {
    try {
      TimeUnit.NANOSECONDS.sleep(nanos);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new MigrationException("interrupted while measuring the dirty rate", e);
    }
  }
}
