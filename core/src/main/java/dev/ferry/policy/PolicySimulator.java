package dev.ferry.policy;

import dev.ferry.Phase;
import dev.ferry.Progress;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * Runs a convergence policy against the {@link PreCopyModel} the way the engine runs it against a
 * VM: round 0 sends all memory; after each round the model says what the guest dirtied; when the
 * expected downtime fits the limit, stop-and-copy; otherwise the policy sees the round's
 * {@link Progress} (with the same history fields the engine fills in) and its actions are applied
 * with the engine's rules (the limit capped at the max downtime, post-copy refused when not
 * available, abort once the deadline has passed and the policy ends nothing). No clock, no threads:
 * the same inputs give the same run. The planner uses it to say beforehand what a migration will
 * need; tests use it to check policies on synthetic traces.
 *
 * <p>Immutable and thread-safe.
 *
 * @param model the guest and link
 * @param pageSize the guest's page size in bytes
 * @param maxDowntime the migration's max downtime (the limit at the start and its ceiling)
 * @param deadline the migration's deadline ({@link Duration#ZERO}: none)
 * @param throttleAvailable whether the vCPUs can be throttled
 * @param postCopyAvailable whether a switch to post-copy would be carried out
 * @param firstPassBytes what round 0 puts on the wire: the memory that holds data, plus what the
 *     zero pages cost (the whole memory, when nothing is known of it)
 */
public record PolicySimulator(PreCopyModel model, int pageSize, Duration maxDowntime, Duration deadline,
    boolean throttleAvailable, boolean postCopyAvailable, double firstPassBytes) {
  private static final int MAX_ROUNDS = 10_000;

  public PolicySimulator {
    Objects.requireNonNull(model, "model");
    Objects.requireNonNull(maxDowntime, "maxDowntime");
    Objects.requireNonNull(deadline, "deadline");
    if (pageSize <= 0) {
      throw new IllegalArgumentException("page size must be positive: " + pageSize);
    }
    if (!(firstPassBytes >= 0)) {
      throw new IllegalArgumentException("first pass bytes must not be negative: " + firstPassBytes);
    }
  }

  /** A simulator whose round 0 sends the whole of memory. */
  public PolicySimulator(PreCopyModel model, int pageSize, Duration maxDowntime, Duration deadline,
      boolean throttleAvailable, boolean postCopyAvailable) {
    this(model, pageSize, maxDowntime, deadline, throttleAvailable, postCopyAvailable, model.memoryBytes());
  }

  /** How a simulated migration ends. */
  public enum Ending {
    /** Pre-copy converged: stop-and-copy within the limit. */
    CONVERGED,
    /** The policy forced completion: stop-and-copy over the limit. */
    FORCED,
    /** The policy switched to post-copy. */
    POST_COPY,
    /** The policy aborted, or the deadline passed: the guest stays on the source. */
    ABORTED,
    /** No deadline and no end in sight: pre-copy would run for ever. */
    NEVER
  }

  /**
   * One decision of the policy that changed something.
   *
   * @param round the round after which it was taken
   * @param elapsed simulated time then
   * @param actions what it asked for
   * @param reason why
   */
  public record Step(long round, Duration elapsed, List<PolicyAction> actions, String reason) {
    @Override
    public String toString() {
      return String.format(Locale.ROOT, "after round %d at %.1f s: %s", round, elapsed.toMillis() / 1e3,
          actions.stream().map(PolicySimulator::describe).reduce((a, b) -> a + ", " + b).orElse(""));
    }
  }

  /**
   * A simulated migration.
   *
   * @param ending how it ends
   * @param rounds pre-copy rounds, round 0 included (stop-and-copy not counted)
   * @param total time until the guest runs on the destination (or, aborted, until the abort)
   * @param downtime the pause at switchover (zero when aborted)
   * @param bytes guest memory sent, all rounds and the last copy counted
   * @param slowdown vCPU time lost to throttling (throttle × time, summed over rounds)
   * @param maxThrottle the highest throttle used
   * @param steps the decisions that changed something, in order
   * @param trace every progress sample the policy was shown
   */
  public record Run(Ending ending, long rounds, Duration total, Duration downtime, long bytes, Duration slowdown,
      int maxThrottle, List<Step> steps, List<Progress> trace) {
    public Run {
      steps = List.copyOf(steps);
      trace = List.copyOf(trace);
    }

    /** Whether the guest ends up on the destination. */
    public boolean completes() {
      return ending == Ending.CONVERGED || ending == Ending.FORCED || ending == Ending.POST_COPY;
    }

    @Override
    public String toString() {
      return String.format(Locale.ROOT, "%s after %d round(s) in %.1f s, downtime %d ms, %s sent, slowdown %.1f s",
          ending, rounds, total.toMillis() / 1e3, downtime.toMillis(), DataSize.bytes(bytes), slowdown.toMillis() / 1e3);
    }
  }

  /** Runs {@code policy} from the start of a migration. */
  public Run run(ConvergencePolicy policy) {
    Objects.requireNonNull(policy, "policy");
    double bandwidth = model.bandwidth();
    double overhead = model.overheadSeconds();
    int throttle = model.measuredThrottle();
    Duration limit = maxDowntime;
    double t = 0;
    double bytes = 0;
    double slowdown = 0;
    int maxThrottle = throttle;
    double toSend = firstPassBytes;
    double watermark = Double.POSITIVE_INFINITY;
    long stalled = 0;
    double lastProgressAt = 0;
    Duration lastFit = null;
    List<Step> steps = new ArrayList<>();
    List<Progress> trace = new ArrayList<>();
    for (long round = 0; round < MAX_ROUNDS; round++) {
      double roundSeconds = Math.max(toSend / bandwidth, model.minRoundSeconds());
      t += roundSeconds;
      bytes += toSend;
      slowdown += roundSeconds * throttle / 100.0;
      double dirty = Math.min(model.memoryBytes(), model.workingSetAt(throttle) + model.coldRateAt(throttle) * roundSeconds);
      dirty = Math.floor(dirty / pageSize) * pageSize;
      double expected = dirty / bandwidth + overhead;
      boolean fits = expected <= PreCopyModel.seconds(limit);
      if (round == 0 || dirty <= watermark * 0.9) {
        watermark = dirty;
        stalled = 0;
        lastProgressAt = t;
      } else {
        stalled++;
      }
      double workingSet = round == 0 ? 0 : Math.min(dirty, model.workingSetAt(throttle));
      Progress p = new Progress(Phase.PRE_COPY, round, PreCopyModel.duration(t), DataSize.bytes((long) model.memoryBytes()),
          DataSize.bytes((long) bytes), DataSize.bytes((long) dirty), (long) (dirty / pageSize / roundSeconds), pageSize,
          DataSize.bytes((long) workingSet), Bandwidth.bytesPerSecond((long) bandwidth),
          PreCopyModel.duration(expected), limit, Bandwidth.bytesPerSecond((long) bandwidth), throttle, deadline,
          maxDowntime, DataSize.bytes((long) toSend), stalled, PreCopyModel.duration(t - lastProgressAt),
          throttleAvailable, postCopyAvailable);
      trace.add(p);
      if (fits) {
        // The engine's rule, the same code: begin now, or one more round while it still shrinks.
        if (SwitchoverRule.switchNow(p, lastFit)) {
          return new Run(Ending.CONVERGED, round + 1, PreCopyModel.duration(t + expected),
              PreCopyModel.duration(expected), (long) (bytes + dirty), PreCopyModel.duration(slowdown), maxThrottle,
              steps, trace);
        }
        lastFit = p.expectedDowntime();
        toSend = dirty;
        continue;
      }
      Decision d = policy.decide(p);
      Objects.requireNonNull(d, "decision");
      boolean changed = false;
      Ending end = null;
      for (PolicyAction a : d.actions()) {
        if (a instanceof PolicyAction.SetDowntimeLimit s) {
          limit = s.limit().compareTo(maxDowntime) > 0 ? maxDowntime : s.limit();
          changed = true;
        } else if (a instanceof PolicyAction.SetBandwidth b) {
          bandwidth = Math.min(model.bandwidth(), b.limit().isUnlimited() ? PreCopyModel.FAST : b.limit().bytesPerSecond());
          bandwidth = Math.max(1, bandwidth);
          changed = true;
        } else if (a instanceof PolicyAction.SetThrottle s) {
          if (throttleAvailable) {
            throttle = s.percent();
            maxThrottle = Math.max(maxThrottle, throttle);
            changed = true;
          }
        } else if (a instanceof PolicyAction.SwitchToPostCopy) {
          if (postCopyAvailable && end == null) {
            end = Ending.POST_COPY;
          }
        } else if (a instanceof PolicyAction.ForceCompletion) {
          if (end == null) {
            end = Ending.FORCED;
          }
        } else if (a instanceof PolicyAction.Abort) {
          if (end == null) {
            end = Ending.ABORTED;
          }
        }
      }
      if (changed || end != null) {
        steps.add(new Step(round, PreCopyModel.duration(t), d.actions(), d.reason()));
      }
      if (end == null && p.pastDeadline()) {
        end = Ending.ABORTED;
      }
      if (end == Ending.ABORTED) {
        return new Run(end, round + 1, PreCopyModel.duration(t), Duration.ZERO, (long) bytes,
            PreCopyModel.duration(slowdown), maxThrottle, steps, trace);
      }
      if (end == Ending.FORCED) {
        return new Run(end, round + 1, PreCopyModel.duration(t + expected), PreCopyModel.duration(expected),
            (long) (bytes + dirty), PreCopyModel.duration(slowdown), maxThrottle, steps, trace);
      }
      if (end == Ending.POST_COPY) {
        // The guest resumes on the destination after the device state; the rest follows at the link's rate.
        return new Run(end, round + 1, PreCopyModel.duration(t + overhead + dirty / bandwidth),
            PreCopyModel.duration(overhead), (long) (bytes + dirty), PreCopyModel.duration(slowdown), maxThrottle,
            steps, trace);
      }
      toSend = dirty;
    }
    return new Run(Ending.NEVER, MAX_ROUNDS, PreCopyModel.duration(t), Duration.ZERO, (long) bytes,
        PreCopyModel.duration(slowdown), maxThrottle, steps, trace);
  }

  static String describe(PolicyAction a) {
    if (a instanceof PolicyAction.SetDowntimeLimit s) {
      return "downtime limit " + s.limit().toMillis() + " ms";
    } else if (a instanceof PolicyAction.SetBandwidth b) {
      return "bandwidth " + b.limit();
    } else if (a instanceof PolicyAction.SetThrottle s) {
      return "throttle " + s.percent() + " %";
    } else if (a instanceof PolicyAction.SwitchToPostCopy) {
      return "post-copy";
    } else if (a instanceof PolicyAction.ForceCompletion) {
      return "force completion";
    } else if (a instanceof PolicyAction.Abort ab) {
      return "abort";
    }
    return a.toString();
  }
}
