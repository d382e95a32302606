package dev.ferry;

import dev.ferry.policy.ConvergencePolicy;
import dev.ferry.spi.Bandwidth;
import java.time.Duration;
import java.util.Objects;

/**
 * What a migration may cost and how it should run. Immutable and thread-safe; build one with
 * {@link #builder()}. The defaults are those of {@link #defaults()}:
 *
 * <ul>
 *   <li>max downtime 300 ms (QEMU's default {@code downtime-limit});
 *   <li>deadline 10 minutes: policies abort (roll back) or force completion before it, and the
 *       engine aborts once it has passed;
 *   <li>no bandwidth limit; one TCP stream; no compression (LZ4 is slower than a fast link);
 *   <li>policy {@link ConvergencePolicy#predictive()}: predicts where pre-copy ends and throttles
 *       the vCPUs just enough, at once, when it would not meet the downtime limit and the deadline;
 *   <li>no verification (it reads all guest memory on both hosts while the guest is paused, which
 *       lengthens the downtime);
 *   <li>live (pre-copy) rather than quick (pause first);
 *   <li>10 s to connect, 30 s for the destination to confirm a switchover;
 *   <li>a peer timeout of 10 s: a destination that sends nothing (it sends a keepalive at least every
 *       quarter of that) or takes nothing for that long is lost, whatever the phase;
 *   <li>60 s to find out, by asking the destination, what became of a commit it did not confirm;
 *   <li>no post-copy; if allowed, 60 s to recover a link broken during post-copy;
 *   <li>no TLS: the connections are plaintext, and the destination authenticates the source by its
 *       token alone (see {@link #tls()});
 *   <li>the system {@link Ticker} and platform threads;
 *   <li>JDK Flight Recorder events on (see {@link #flightRecorder()}).
 * </ul>
 */
public final class MigrationOptions {
  private static final MigrationOptions DEFAULTS = builder().build();

  private final Duration maxDowntime;
  private final Duration deadline;
  private final Bandwidth bandwidthLimit;
  private final int streams;
  private final Compression compression;
  private final ConvergencePolicy policy;
  private final boolean verify;
  private final boolean quick;
  private final Duration connectTimeout;
  private final Duration switchoverTimeout;
  private final boolean allowPostCopy;
  private final Duration postCopyRecoveryTimeout;
  private final java.util.List<MigrationListener> listeners;
  private final Duration peerTimeout;
  private final Duration inDoubtTimeout;
  private final Ticker ticker;
  private final java.util.concurrent.ThreadFactory threadFactory;
  private final java.util.Optional<FerryTls> tls;
  private final java.util.Optional<String> destinationConfig;
  private final java.util.Optional<dev.ferry.spi.HypervisorMigration.BackendOptions> backendOptions;
  private final boolean flightRecorder;

  private MigrationOptions(Builder b) {
    this.maxDowntime = b.maxDowntime;
    this.deadline = b.deadline;
    this.bandwidthLimit = b.bandwidthLimit;
    this.streams = b.streams;
    this.compression = b.compression;
    this.policy = b.policy;
    this.verify = b.verify;
    this.quick = b.quick;
    this.connectTimeout = b.connectTimeout;
    this.switchoverTimeout = b.switchoverTimeout;
    this.allowPostCopy = b.allowPostCopy;
    this.postCopyRecoveryTimeout = b.postCopyRecoveryTimeout;
    this.listeners = java.util.List.copyOf(b.listeners);
    this.peerTimeout = b.peerTimeout;
    this.inDoubtTimeout = b.inDoubtTimeout;
    this.ticker = b.ticker;
    this.threadFactory = b.threadFactory;
    this.tls = java.util.Optional.ofNullable(b.tls);
    this.destinationConfig = java.util.Optional.ofNullable(b.destinationConfig);
    this.backendOptions = java.util.Optional.ofNullable(b.backendOptions);
    this.flightRecorder = b.flightRecorder;
  }

  /** The defaults listed above. */
  public static MigrationOptions defaults() {
    return DEFAULTS;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** A builder holding these options, to change some of them. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.maxDowntime = maxDowntime;
    b.deadline = deadline;
    b.bandwidthLimit = bandwidthLimit;
    b.streams = streams;
    b.compression = compression;
    b.policy = policy;
    b.verify = verify;
    b.quick = quick;
    b.connectTimeout = connectTimeout;
    b.switchoverTimeout = switchoverTimeout;
    b.allowPostCopy = allowPostCopy;
    b.postCopyRecoveryTimeout = postCopyRecoveryTimeout;
    b.listeners.addAll(listeners);
    b.peerTimeout = peerTimeout;
    b.inDoubtTimeout = inDoubtTimeout;
    b.ticker = ticker;
    b.threadFactory = threadFactory;
    b.tls = tls.orElse(null);
    b.destinationConfig = destinationConfig.orElse(null);
    b.backendOptions = backendOptions.orElse(null);
    b.flightRecorder = flightRecorder;
    return b;
  }

  /** The longest pause the guest may see at switchover. */
  public Duration maxDowntime() {
    return maxDowntime;
  }

  /** How long the whole migration may take; {@link Duration#ZERO} for no deadline. */
  public Duration deadline() {
    return deadline;
  }

  /** The most bandwidth the migration may use. */
  public Bandwidth bandwidthLimit() {
    return bandwidthLimit;
  }

  /** How many TCP streams carry pages. */
  public int streams() {
    return streams;
  }

  public Compression compression() {
    return compression;
  }

  public ConvergencePolicy policy() {
    return policy;
  }

  /** Whether to compare source and destination memory while paused before switching over. */
  public boolean verify() {
    return verify;
  }

  /** Whether to pause first and copy everything once (a quick migration) instead of pre-copy. */
  public boolean quick() {
    return quick;
  }

  public Duration connectTimeout() {
    return connectTimeout;
  }

  /** How long to wait for the destination to confirm it holds everything and has resumed. */
  public Duration switchoverTimeout() {
    return switchoverTimeout;
  }

  /**
   * Whether the migration may switch to post-copy (on a policy's action or
   * {@link MigrationSession#switchToPostCopy()}): the guest then runs on the destination before all
   * its memory has arrived. Off by default, as in QEMU, libvirt and KubeVirt: a link lost for
   * longer than {@link #postCopyRecoveryTimeout()} during post-copy loses the guest.
   */
  public boolean allowPostCopy() {
    return allowPostCopy;
  }

  /**
   * How long, during post-copy, both hosts wait for a broken link to come back before declaring the
   * guest lost. The guest is paused meanwhile.
   */
  public Duration postCopyRecoveryTimeout() {
    return postCopyRecoveryTimeout;
  }

  /**
   * Listeners registered before the migration starts, so they receive every event from the first
   * on; {@link MigrationSession#addListener} may miss the first events of a fast migration.
   */
  public java.util.List<MigrationListener> listeners() {
    return listeners;
  }

  /**
   * How long the destination may stay silent, or leave a write of ours unread, before the migration
   * counts it lost: every read and write on every connection is bounded by it, and both ends send a
   * keepalive on the control stream at least every quarter of it. A destination lost before the
   * commit rolls the migration back; one lost after it is asked what became of the commit (see
   * {@link #inDoubtTimeout()}).
   */
  public Duration peerTimeout() {
    return peerTimeout;
  }

  /**
   * After a commit the destination did not confirm, how long the source keeps asking it (over new
   * connections) whether it runs the guest or discarded it. It resumes the source only on the
   * destination's word that it discarded its copy, and stops for good when it runs; past this
   * timeout with no answer, the outcome is {@link MigrationResult.Outcome#IN_DOUBT}, the source
   * paused.
   */
  public Duration inDoubtTimeout() {
    return inDoubtTimeout;
  }

  /** The time source of every timeout, deadline and measurement. */
  public Ticker ticker() {
    return ticker;
  }

  /**
   * Makes the migration's threads (its own, one per extra stream, the return path, the watchdog).
   * The engine names them and sets whether they are daemons; the factory must return unstarted
   * threads.
   */
  public java.util.concurrent.ThreadFactory threadFactory() {
    return threadFactory;
  }

  /**
   * TLS for every connection of the migration (control, data streams, post-copy recovery, commit
   * queries): TLS 1.3, this host's certificate presented to the destination, the destination's
   * certificate checked against the trust store and the target's host. Empty: plaintext. Only
   * Ferry's own connections use it: a hypervisor that migrates memory itself (libvirt) secures its
   * own channel, configured in the hypervisor.
   */
  public java.util.Optional<FerryTls> tls() {
    return tls;
  }

  /**
   * The VM's configuration on the destination, in its hypervisor's own format, for what differs
   * from host to host (serial log and disk paths, names): libvirt takes a domain XML
   * ({@code VIR_MIGRATE_PARAM_DEST_XML}), which must describe the same guest. Empty: the source's
   * configuration. Only a hypervisor-driven migration (libvirt) can use one; an engine-driven
   * migration given one is refused.
   */
  public java.util.Optional<String> destinationConfig() {
    return destinationConfig;
  }

  /**
   * Options of the VM's backend for a migration its hypervisor carries out, beyond what every
   * backend shares: for libvirt, {@code dev.ferry.libvirt.LibvirtMigrationOptions} (peer-to-peer or
   * managed direct, libvirt's TLS, the migrate URI and the destination's listen address, persistence
   * on the destination and undefining the source). Empty: the backend's defaults. Only a
   * hypervisor-driven migration can use them; an engine-driven migration given some is refused, and
   * so is a backend given options of another backend's type.
   */
  public java.util.Optional<dev.ferry.spi.HypervisorMigration.BackendOptions> backendOptions() {
    return backendOptions;
  }

  /**
   * Whether the migration commits JDK Flight Recorder events ({@code dev.ferry.Migration},
   * {@code dev.ferry.Round}, ... listed in {@linkplain dev.ferry the package documentation}): on by
   * default. They reach a recording only when one is running and enables them, and cost a check per
   * event otherwise.
   */
  public boolean flightRecorder() {
    return flightRecorder;
  }

  @Override
  public String toString() {
    return "MigrationOptions[maxDowntime=" + maxDowntime.toMillis() + "ms, deadline=" + deadline
        + ", bandwidthLimit=" + bandwidthLimit + ", streams=" + streams + ", compression=" + compression
        + ", policy=" + policy + ", verify=" + verify + ", quick=" + quick
        + (allowPostCopy ? ", postCopy (recovery " + postCopyRecoveryTimeout.toSeconds() + " s)" : "")
        + (tls.isPresent() ? ", tls" : "") + (destinationConfig.isPresent() ? ", destinationConfig" : "")
        + backendOptions.map(o -> ", backendOptions=" + o).orElse("") + "]";
  }

  /** Builds {@link MigrationOptions}. Not thread-safe. Each setter checks its argument at once. */
  public static final class Builder {
    private Duration maxDowntime = Duration.ofMillis(300);
    private Duration deadline = Duration.ofMinutes(10);
    private Bandwidth bandwidthLimit = Bandwidth.UNLIMITED;
    private int streams = 1;
    private Compression compression = Compression.NONE;
    private ConvergencePolicy policy = ConvergencePolicy.predictive();
    private boolean verify;
    private boolean quick;
    private Duration connectTimeout = Duration.ofSeconds(10);
    private Duration switchoverTimeout = Duration.ofSeconds(30);
    private boolean allowPostCopy;
    private Duration postCopyRecoveryTimeout = Duration.ofSeconds(60);
    private final java.util.List<MigrationListener> listeners = new java.util.ArrayList<>();
    private Duration peerTimeout = Duration.ofSeconds(10);
    private Duration inDoubtTimeout = Duration.ofSeconds(60);
    private Ticker ticker = Ticker.system();
    private java.util.concurrent.ThreadFactory threadFactory = Thread::new;
    private FerryTls tls;
    private String destinationConfig;

    /** See {@link MigrationOptions#destinationConfig()}; null for the source's configuration. */
    public Builder destinationConfig(String config) {
      if (config != null && config.isBlank()) {
        throw new IllegalArgumentException("destination config is blank; pass null for the source's own");
      }
      this.destinationConfig = config;
      return this;
    }

    private dev.ferry.spi.HypervisorMigration.BackendOptions backendOptions;

    /** See {@link MigrationOptions#backendOptions()}; null for the backend's defaults. */
    public Builder backendOptions(dev.ferry.spi.HypervisorMigration.BackendOptions options) {
      this.backendOptions = options;
      return this;
    }

    private boolean flightRecorder = true;

    /** See {@link MigrationOptions#flightRecorder()}; true by default. */
    public Builder flightRecorder(boolean record) {
      this.flightRecorder = record;
      return this;
    }

    /** See {@link MigrationOptions#tls()}; null for plaintext. */
    public Builder tls(FerryTls tls) {
      this.tls = tls;
      return this;
    }

    /** See {@link MigrationOptions#peerTimeout()}; at least 100 ms. */
    public Builder peerTimeout(Duration timeout) {
      positive(timeout, "peer timeout");
      if (timeout.toMillis() < 100) {
        throw new IllegalArgumentException("peer timeout must be at least 100 ms: " + timeout);
      }
      this.peerTimeout = timeout;
      return this;
    }

    /** See {@link MigrationOptions#inDoubtTimeout()}; positive. */
    public Builder inDoubtTimeout(Duration timeout) {
      this.inDoubtTimeout = positive(timeout, "in-doubt timeout");
      return this;
    }

    /** The time source; {@link Ticker#system()} unless a test passes its own. */
    public Builder ticker(Ticker ticker) {
      this.ticker = Objects.requireNonNull(ticker, "ticker");
      return this;
    }

    /** Where the migration's threads come from; see {@link MigrationOptions#threadFactory()}. */
    public Builder threadFactory(java.util.concurrent.ThreadFactory factory) {
      this.threadFactory = Objects.requireNonNull(factory, "threadFactory");
      return this;
    }

    /** Adds a listener that receives every event of the migration, the first included. */
    public Builder listener(MigrationListener listener) {
      listeners.add(Objects.requireNonNull(listener, "listener"));
      return this;
    }

    private Builder() {}

    /** Allows switching to post-copy; see {@link MigrationOptions#allowPostCopy()}. */
    public Builder allowPostCopy(boolean allow) {
      this.allowPostCopy = allow;
      return this;
    }

    /** See {@link MigrationOptions#postCopyRecoveryTimeout()}; positive. */
    public Builder postCopyRecoveryTimeout(Duration timeout) {
      this.postCopyRecoveryTimeout = positive(timeout, "post-copy recovery timeout");
      return this;
    }

    /** The longest pause allowed at switchover; positive. */
    public Builder maxDowntime(Duration maxDowntime) {
      this.maxDowntime = positive(maxDowntime, "max downtime");
      return this;
    }

    /** How long the whole migration may take; {@link Duration#ZERO} for none. */
    public Builder deadline(Duration deadline) {
      Objects.requireNonNull(deadline, "deadline");
      if (deadline.isNegative()) {
        throw new IllegalArgumentException("deadline must not be negative: " + deadline);
      }
      this.deadline = deadline;
      return this;
    }

    /** A bandwidth cap, honoured smoothly; {@link Bandwidth#UNLIMITED} for none. */
    public Builder bandwidthLimit(Bandwidth limit) {
      Objects.requireNonNull(limit, "limit");
      if (limit.bytesPerSecond() == 0) {
        throw new IllegalArgumentException("a bandwidth limit of zero would never finish");
      }
      this.bandwidthLimit = limit;
      return this;
    }

    /** Number of TCP streams for pages, 1 to 16. */
    public Builder streams(int streams) {
      if (streams < 1 || streams > 16) {
        throw new IllegalArgumentException("streams must be 1 to 16: " + streams);
      }
      this.streams = streams;
      return this;
    }

    public Builder compression(Compression compression) {
      this.compression = Objects.requireNonNull(compression, "compression");
      return this;
    }

    public Builder policy(ConvergencePolicy policy) {
      this.policy = Objects.requireNonNull(policy, "policy");
      return this;
    }

    public Builder verify(boolean verify) {
      this.verify = verify;
      return this;
    }

    /** Pause first and copy everything once (what Hyper-V did before live migration). */
    public Builder quick(boolean quick) {
      this.quick = quick;
      return this;
    }

    public Builder connectTimeout(Duration timeout) {
      this.connectTimeout = positive(timeout, "connect timeout");
      return this;
    }

    public Builder switchoverTimeout(Duration timeout) {
      this.switchoverTimeout = positive(timeout, "switchover timeout");
      return this;
    }

    public MigrationOptions build() {
      return new MigrationOptions(this);
    }

    private static Duration positive(Duration d, String what) {
      Objects.requireNonNull(d, what);
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException(what + " must be positive: " + d);
      }
      return d;
    }
  }
}
