package dev.ferry;

import dev.ferry.policy.PolicySimulator;
import dev.ferry.policy.PreCopyModel;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;

/**
 * What a migration is expected to cost, estimated before it starts by {@link Ferry#plan}: from a
 * short measurement of the guest's dirty rate and working set, the {@link PreCopyModel} of
 * pre-copy over the given link, and the migration's policy run against it by a
 * {@link PolicySimulator}. An estimate: the guest's behaviour may change, and the model is simple
 * (see {@link PreCopyModel}). Immutable.
 *
 * @param vm the VM's name
 * @param memory the VM's memory
 * @param link the bandwidth assumed (the link's, capped by the options' limit)
 * @param window how long the dirty rate was measured
 * @param pageSize the guest's page size in bytes
 * @param dirtyRatePagesPerSecond distinct pages dirtied per second, over half the window
 * @param workingSet pages dirtied in both halves of the window
 * @param policy the policy that was simulated
 * @param model the model of the guest and the link
 * @param run what the simulation predicts: outcome, rounds, total time, downtime, bytes, the
 *     policy's steps
 */
public record MigrationPlan(String vm, DataSize memory, Bandwidth link, Duration window, int pageSize,
    long dirtyRatePagesPerSecond,
    DataSize workingSet, String policy, PreCopyModel model, PolicySimulator.Run run) {

  public MigrationPlan {
    Objects.requireNonNull(vm, "vm");
    Objects.requireNonNull(run, "run");
  }

  /** One line: the prediction. */
  public String summary() {
    return String.format(Locale.ROOT, "%s: %s in %.1f s, downtime %d ms, %d round(s), %s to send, guest slowdown %.1f s",
        run.completes() ? "completes" : "does not complete", run.ending(), run.total().toMillis() / 1e3,
        run.downtime().toMillis(), run.rounds(), DataSize.bytes(run.bytes()), run.slowdown().toMillis() / 1e3);
  }

  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT,
        "plan for %s (%s) over %s with %s: dirty rate %,d pages/s (%.1f MB/s), working set %s, measured over %d ms%n",
        vm, memory, link, policy, dirtyRatePagesPerSecond, dirtyRatePagesPerSecond * (double) pageSize / 1e6,
        workingSet, window.toMillis()));
    sb.append("  predicted: ").append(summary());
    for (PolicySimulator.Step s : run.steps()) {
      sb.append(String.format("%n  step: %s", s));
    }
    return sb.toString();
  }
}
