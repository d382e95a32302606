package dev.ferry.policy;

import dev.ferry.Progress;
import java.time.Duration;
import java.util.Objects;

/**
 * QEMU's default behaviour: a fixed downtime limit, and iterate until the expected downtime fits it;
 * nothing else. QEMU's {@code downtime-limit} defaults to 300 ms (migration/options.c), which is
 * also {@link dev.ferry.MigrationOptions}' default max downtime. QEMU itself iterates forever; here,
 * at the last chance before the migration's deadline (see {@link Progress#lastChance()}), it aborts
 * and the guest keeps running on the source. Created by {@link ConvergencePolicy#fixedDowntime()}.
 *
 * <p>Immutable and thread-safe.
 *
 * @param limit the downtime limit to hold; {@link Duration#ZERO} keeps the migration's max downtime.
 *     Never set above {@link Progress#maxDowntime()}.
 */
public record FixedDowntime(Duration limit) implements ConvergencePolicy {

  public FixedDowntime {
    Policies.positiveOrZero(limit, "downtime limit");
  }

  @Override
  public Decision decide(Progress p) {
    Decision end = Policies.atDeadline(p, TimeoutAction.ABORT, false, "fixed downtime");
    if (!end.isEmpty()) {
      return end;
    }
    if (!limit.isZero()) {
      Duration want = limit.compareTo(p.maxDowntime()) > 0 ? p.maxDowntime() : limit;
      if (!Objects.equals(want, p.downtimeLimit())) {
        return Decision.of("fixed downtime limit of " + want.toMillis() + " ms",
            new PolicyAction.SetDowntimeLimit(want));
      }
    }
    return Decision.keepGoing();
  }

  @Override
  public String toString() {
    return limit.isZero() ? "fixedDowntime" : "fixedDowntime(" + limit.toMillis() + "ms)";
  }
}
