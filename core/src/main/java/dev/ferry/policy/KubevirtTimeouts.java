package dev.ferry.policy;

import dev.ferry.Progress;
import java.time.Duration;

/**
 * KubeVirt's migration timeouts (pkg/virt-config/virt-config.go, MigrationPolicy): a completion
 * timeout proportional to the guest's size, and a progress timeout.
 *
 * <ul>
 *   <li>Completion: once {@code completionTimeoutPerGiB × memory in GiB} has passed, switch to
 *       post-copy if {@code allowPostCopy} (and the engine offers it), else force completion by
 *       pausing if {@code allowWorkloadDisruption}, else abort.
 *   <li>Progress: once {@code progressTimeout} has passed since the last round that made progress
 *       ({@link Progress#sinceProgress()}), abort.
 * </ul>
 *
 * <p>Defaults from KubeVirt: {@code completionTimeoutPerGiB} 150 s (older releases: 800 s),
 * {@code progressTimeout} 150 s, {@code allowPostCopy} false, {@code allowWorkloadDisruption} false.
 * At the last chance before the migration's own deadline it aborts (or forces, when disruption is
 * allowed). Created by {@link ConvergencePolicy#kubevirtTimeouts()}. Immutable and thread-safe.
 *
 * @param completionTimeoutPerGiB time allowed per GiB of guest memory; {@link Duration#ZERO} disables it
 * @param progressTimeout time allowed without progress; {@link Duration#ZERO} disables it
 * @param allowPostCopy whether the completion timeout switches to post-copy
 * @param allowWorkloadDisruption whether the completion timeout may pause the guest to finish
 */
public record KubevirtTimeouts(Duration completionTimeoutPerGiB, Duration progressTimeout, boolean allowPostCopy,
    boolean allowWorkloadDisruption) implements ConvergencePolicy {
  /** KubeVirt's {@code completionTimeoutPerGiB}. */
  public static final Duration KUBEVIRT_COMPLETION_TIMEOUT_PER_GIB = Duration.ofSeconds(150);
  /** KubeVirt's {@code progressTimeout}. */
  public static final Duration KUBEVIRT_PROGRESS_TIMEOUT = Duration.ofSeconds(150);

  public KubevirtTimeouts {
    Policies.positiveOrZero(completionTimeoutPerGiB, "completion timeout per GiB");
    Policies.positiveOrZero(progressTimeout, "progress timeout");
  }

  /** When the completion timeout fires for this guest; {@link Duration#ZERO} when disabled. */
  public Duration completionTimeout(Progress p) {
    return completionTimeoutPerGiB.isZero() ? Duration.ZERO : Policies.scaled(completionTimeoutPerGiB, Policies.gib(p));
  }

  @Override
  public Decision decide(Progress p) {
    TimeoutAction onTimeout = allowWorkloadDisruption || (allowPostCopy && p.postCopyAvailable())
        ? TimeoutAction.FORCE_COMPLETE : TimeoutAction.ABORT;
    Decision end = Policies.atDeadline(p, onTimeout, allowPostCopy, "kubevirt");
    if (!end.isEmpty()) {
      return end;
    }
    Duration completion = completionTimeout(p);
    if (!completion.isZero() && p.elapsed().compareTo(completion) > 0) {
      return Policies.timeout(p, onTimeout, allowPostCopy, "kubevirt: completion timeout of "
          + completion.toMillis() + " ms (" + completionTimeoutPerGiB.toSeconds() + " s per GiB) passed");
    }
    if (!progressTimeout.isZero() && p.sinceProgress().compareTo(progressTimeout) > 0) {
      String why = "kubevirt: no progress for " + p.sinceProgress().toMillis() + " ms (progress timeout "
          + progressTimeout.toMillis() + " ms)";
      return Decision.of(why + "; aborting", new PolicyAction.Abort(why));
    }
    return Decision.keepGoing();
  }

  @Override
  public String toString() {
    return "kubevirtTimeouts(" + completionTimeoutPerGiB.toSeconds() + "s/GiB, progress "
        + progressTimeout.toSeconds() + "s" + (allowPostCopy ? ", post-copy" : "") + ")";
  }
}
