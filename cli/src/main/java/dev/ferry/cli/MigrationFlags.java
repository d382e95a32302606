package dev.ferry.cli;

import dev.ferry.Compression;
import dev.ferry.MigrationOptions;
import dev.ferry.policy.ConvergencePolicy;
import dev.ferry.spi.Bandwidth;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * The migration options every migrating command takes, as a picocli mixin: the downtime the guest
 * can bear, the deadline, bandwidth, streams, compression, the convergence policy, verification,
 * quick and post-copy. {@link #builder(Duration)} turns them into {@link MigrationOptions}. Not
 * thread-safe: picocli fills it, one command reads it.
 */
public final class MigrationFlags {

  @Option(names = "--max-downtime", defaultValue = "300ms", converter = Units.DurationConverter.class,
      description = "Longest pause allowed, e.g. 300ms or 1s (default ${DEFAULT-VALUE}).")
  Duration maxDowntime;

  @Option(names = "--deadline", converter = Units.DurationConverter.class,
      description = "Give up and roll back after this long (default 60s; 120s for libvirt).")
  Duration deadline;

  @Option(names = "--bandwidth", defaultValue = "unlimited", converter = Units.BandwidthConverter.class,
      description = "Bandwidth limit, e.g. 200MB/s, 1GB/s, or unlimited (default ${DEFAULT-VALUE}).")
  Bandwidth bandwidth;

  @Option(names = "--streams", defaultValue = "1", description = "TCP streams for pages (default ${DEFAULT-VALUE}).")
  int streams;

  @Option(names = "--compression", defaultValue = "none",
      description = "none or lz4 (libvirt: XBZRLE) (default ${DEFAULT-VALUE}).")
  String compression;

  @Option(names = "--policy", defaultValue = "predictive",
      description = "Convergence policy: fixed-downtime, nova-steps, auto-converge, proportional, post-copy-after,"
          + " kubevirt or predictive (default ${DEFAULT-VALUE}).")
  String policy;

  @Option(names = "--verify", defaultValue = "true", arity = "1",
      description = "Compare memory digests at switchover (default ${DEFAULT-VALUE}).")
  boolean verify;

  @Option(names = "--quick", description = "Pause first and copy once (a quick migration) instead of pre-copy.")
  boolean quick;

  @Option(names = "--post-copy", description = "Allow the policy to switch to post-copy when pre-copy cannot converge.")
  boolean postCopy;

  /** The deadline given, or {@code fallback} when none was. */
  public Duration deadline(Duration fallback) {
    return deadline != null ? deadline : fallback;
  }

  /** The bandwidth limit given ({@link Bandwidth#UNLIMITED} by default). */
  public Bandwidth bandwidth() {
    return bandwidth;
  }

  /**
   * A builder with these options set, the deadline {@code defaultDeadline} unless one was given.
   *
   * @throws IllegalArgumentException for an unknown compression or policy
   */
  public MigrationOptions.Builder builder(Duration defaultDeadline) {
    return MigrationOptions.builder()
        .maxDowntime(maxDowntime)
        .deadline(deadline(defaultDeadline))
        .bandwidthLimit(bandwidth)
        .streams(streams)
        .compression(compression())
        .policy(policy())
        .verify(verify)
        .quick(quick)
        .allowPostCopy(postCopy);
  }

  private Compression compression() {
    try {
      return Compression.valueOf(compression.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown compression '" + compression + "': use none or lz4");
    }
  }

  private ConvergencePolicy policy() {
    Map<String, ConvergencePolicy> all = ConvergencePolicy.builtIns();
    ConvergencePolicy p = all.get(policy.trim().toLowerCase(Locale.ROOT));
    if (p == null) {
      throw new IllegalArgumentException("unknown policy '" + policy + "': use one of " + String.join(", ", all.keySet()));
    }
    return p;
  }
}
