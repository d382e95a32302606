package dev.ferry.policy;

import dev.ferry.spi.Bandwidth;
import java.time.Duration;
import java.util.Objects;

/** One thing a convergence policy asks the engine to do. */
public sealed interface PolicyAction {

  /** Allow a longer (or shorter) pause at switchover. */
  record SetDowntimeLimit(Duration limit) implements PolicyAction {
    public SetDowntimeLimit {
      Objects.requireNonNull(limit, "limit");
      if (limit.isNegative() || limit.isZero()) {
        throw new IllegalArgumentException("downtime limit must be positive: " + limit);
      }
    }
  }

  /** Cap the migration's bandwidth ({@link Bandwidth#UNLIMITED} to lift the cap). */
  record SetBandwidth(Bandwidth limit) implements PolicyAction {
    public SetBandwidth {
      Objects.requireNonNull(limit, "limit");
    }
  }

  /** Slow the vCPUs down by {@code percent} of their time (0 lifts the throttle). */
  record SetThrottle(int percent) implements PolicyAction {
    public SetThrottle {
      if (percent < 0 || percent > 99) {
        throw new IllegalArgumentException("throttle must be 0 to 99 %: " + percent);
      }
    }
  }

  /** Resume the guest on the destination now and fetch the rest of its memory on demand. */
  record SwitchToPostCopy() implements PolicyAction {}

  /** Pause the guest and finish now, whatever the downtime. */
  record ForceCompletion() implements PolicyAction {}

  /** Give up: the guest keeps running on the source, the destination discards its copy. */
  record Abort(String reason) implements PolicyAction {
    public Abort {
      Objects.requireNonNull(reason, "reason");
    }
  }
}
