package dev.ferry.spi;

import java.net.URI;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * A migration that the hypervisor carries out itself (libvirt/QEMU copy memory on their own);
 * Ferry starts it, samples its statistics and applies its policies through the job's controls.
 *
 * <p>The contract Ferry relies on:
 * <ul>
 *   <li>{@link #start} refuses up front (throws) what the hypervisor refuses before any memory moves:
 *       an unreachable destination, the same host, an incompatible CPU. Once it returns, the job runs.
 *   <li>{@link Job#result()} is decided by the destination: a job is {@link Result.Outcome#COMPLETED}
 *       only when the destination confirmed it runs the VM. A source VM that has vanished is not, by
 *       itself, a success or a failure.
 *   <li>Every setting of the job ({@linkplain Request#maxDowntime() downtime},
 *       {@linkplain Request#bandwidth() bandwidth}) is applied at each start, since hypervisors keep
 *       some of them on the VM from one migration to the next.
 * </ul>
 * Implementations must be thread-safe.
 */
public interface HypervisorMigration {

  /**
   * Starts a migration of this VM to the destination the request names, and returns once the
   * hypervisor has accepted the job.
   *
   * @throws DriverException if the hypervisor refuses it (unreachable destination, same host,
   *     incompatible CPU); nothing has moved then and the VM runs on as before
   */
  Job start(Request request);

  /**
   * What to start.
   *
   * @param destination the destination host, as the hypervisor names it (a libvirt URI)
   * @param maxDowntime the longest pause allowed at switchover
   * @param bandwidth the bandwidth cap ({@link Bandwidth#UNLIMITED} for none), in pre-copy and in
   *     post-copy alike
   * @param parallelConnections connections that carry memory; more than one asks for
   *     {@link Flag#PARALLEL} transfer
   * @param flags options of the job
   * @param destinationConfig the VM's configuration to use on the destination, in the backend's
   *     own format (libvirt: domain XML); empty to keep the source's
   * @param backendOptions options the backend defines for its own migrations (libvirt:
   *     {@code dev.ferry.libvirt.LibvirtMigrationOptions}); empty for its defaults. A backend given
   *     options of a type it does not define refuses the request.
   */
  record Request(URI destination, Duration maxDowntime, Bandwidth bandwidth, int parallelConnections,
      Set<Flag> flags, Optional<String> destinationConfig, Optional<BackendOptions> backendOptions) {
    public Request {
      Objects.requireNonNull(destination, "destination");
      Objects.requireNonNull(maxDowntime, "maxDowntime");
      Objects.requireNonNull(bandwidth, "bandwidth");
      Objects.requireNonNull(destinationConfig, "destinationConfig");
      Objects.requireNonNull(backendOptions, "backendOptions");
      flags = Set.copyOf(flags);
      if (parallelConnections < 1) {
        throw new IllegalArgumentException("parallel connections must be at least 1: " + parallelConnections);
      }
    }

    /** A request with the backend's default options. */
    public Request(URI destination, Duration maxDowntime, Bandwidth bandwidth, int parallelConnections,
        Set<Flag> flags, Optional<String> destinationConfig) {
      this(destination, maxDowntime, bandwidth, parallelConnections, flags, destinationConfig, Optional.empty());
    }

    /** A request with the source's configuration kept on the destination. */
    public Request(URI destination, Duration maxDowntime, Bandwidth bandwidth, int parallelConnections,
        Set<Flag> flags) {
      this(destination, maxDowntime, bandwidth, parallelConnections, flags, Optional.empty());
    }
  }

  /**
   * Options one backend defines for its own hypervisor-driven migrations, beyond what every backend
   * shares (libvirt: {@code dev.ferry.libvirt.LibvirtMigrationOptions}, with peer-to-peer, TLS, the
   * migrate URI). An application passes them through {@code MigrationOptions.Builder.backendOptions};
   * Ferry hands them to the backend as they are, in {@link Request#backendOptions()}. Implementations
   * should be immutable.
   */
  interface BackendOptions {}

  /** Options of a hypervisor-driven migration. */
  enum Flag {
    /** Copy memory while the guest runs (without it, the guest is paused first). */
    LIVE,
    /** Define the VM on the destination (for a VM that is defined on the source). */
    PERSIST_DESTINATION,
    /** Remove the VM's definition from the source once it runs on the destination. */
    UNDEFINE_SOURCE,
    /** Let the hypervisor throttle the vCPUs when pre-copy does not converge. */
    AUTO_CONVERGE,
    /** Allow {@link Job#startPostCopy()} later; the job starts as pre-copy. */
    POST_COPY,
    /** Compress memory pages (libvirt: XBZRLE). */
    COMPRESSED,
    /** Carry memory over several connections. */
    PARALLEL
  }

  /** Where a job is, as the hypervisor reports it. */
  enum JobState {
    /** Accepted, nothing reported yet. */
    STARTING,
    /** Copying memory while the guest runs on the source. */
    PRE_COPY,
    /** The guest is paused on the source while the last memory moves. */
    STOP_AND_COPY,
    /** The guest runs on the destination and fetches missing pages from the source. */
    POST_COPY,
    /** The job has ended; {@link Job#result()} says how. */
    ENDED
  }

  /** A running hypervisor-driven migration. Thread-safe. */
  interface Job {
    /**
     * A sample of the job's statistics now. After the job ended, the last sample taken (or the
     * completed job's statistics); never throws because the source VM has gone away.
     */
    Stats stats();

    /** Sets the longest pause allowed at switchover, now. */
    void setMaxDowntime(Duration downtime);

    /** Sets the bandwidth cap, now, for pre-copy and post-copy ({@link Bandwidth#UNLIMITED} for none). */
    void setBandwidth(Bandwidth bandwidth);

    /**
     * Switches a running pre-copy to post-copy; requires {@link Flag#POST_COPY} at start.
     *
     * @throws DriverException if the hypervisor refuses
     */
    void startPostCopy();

    /**
     * Pauses the guest on the source so the job finishes whatever the downtime; once the job has
     * completed, the guest is resumed on the destination if the hypervisor left it paused there.
     */
    void forceCompletion();

    /** Aborts the job; the VM keeps running on the source. Harmless once the job has ended. */
    void abort();

    /** Whether the job has ended, successfully or not. */
    boolean isDone();

    /** How the job ended; empty while it runs. */
    Optional<Result> result();

    /**
     * Waits up to {@code timeout} for the job to end.
     *
     * @return the result, or empty if the job still runs
     */
    Optional<Result> await(Duration timeout) throws InterruptedException;
  }

  /**
   * How a hypervisor-driven job ended.
   *
   * @param outcome what happened
   * @param message the hypervisor's own error message; empty when it completed
   * @param stats the completed job's statistics where the hypervisor keeps them (downtime, total
   *     time, bytes, rounds), else the last sample
   * @param downtimeUnknown why {@code stats.downtime()} is no measurement (the hypervisor kept no
   *     completed-job statistics, or they hold no downtime); empty when it is one
   * @param statsNotFinal why {@code stats} are not the completed job's totals but the last sample
   *     taken while it ran (bytes and pages then are a lower bound); empty when they are the totals
   */
  record Result(Outcome outcome, String message, Stats stats, Optional<String> downtimeUnknown,
      Optional<String> statsNotFinal) {
    public Result {
      Objects.requireNonNull(outcome, "outcome");
      Objects.requireNonNull(message, "message");
      Objects.requireNonNull(stats, "stats");
      Objects.requireNonNull(downtimeUnknown, "downtimeUnknown");
      Objects.requireNonNull(statsNotFinal, "statsNotFinal");
    }

    /** A result whose statistics are the job's totals. */
    public Result(Outcome outcome, String message, Stats stats, Optional<String> downtimeUnknown) {
      this(outcome, message, stats, downtimeUnknown, Optional.empty());
    }

    /** A result whose statistics are the job's totals, with a measured downtime (or zero, for a guest that never paused). */
    public Result(Outcome outcome, String message, Stats stats) {
      this(outcome, message, stats, Optional.empty());
    }

    /** How a job ended, and where the VM runs. */
    public enum Outcome {
      /** The destination confirmed it runs the VM. */
      COMPLETED,
      /** Aborted on request; the VM runs on the source. */
      ABORTED,
      /** The hypervisor failed the job; the VM runs on the source. */
      FAILED,
      /**
       * The job switched over, but the destination does not run the VM afterwards (its process
       * crashed or was killed at or after the switch); {@link Result#message()} says what the
       * destination reported. The source no longer holds a current copy.
       */
      DESTINATION_FAILED,
      /**
       * Post-copy failed after the destination took over: the VM is paused and neither side holds
       * all of it. The hypervisor may be able to resume the job (libvirt: post-copy recovery).
       */
      POST_COPY_FAILED
    }
  }

  /**
   * One sample of a hypervisor-driven job. Figures the hypervisor does not report are zero.
   *
   * @param state where the job is
   * @param iteration the hypervisor's count of memory passes (1 during the first full pass; QEMU's
   *     dirty-sync count)
   * @param total guest memory to move
   * @param processed guest memory sent so far, all passes counted
   * @param remaining memory still to send in this pass
   * @param normalPages non-zero pages sent so far
   * @param zeroPages zero pages sent so far (as markers)
   * @param bytesOnWire all bytes the job sent, memory and device state
   * @param dirtyRatePagesPerSecond pages dirtied per second, as the hypervisor measured it
   * @param pageSize guest page size in bytes
   * @param bandwidth transfer rate now
   * @param expectedDowntime the hypervisor's estimate of the downtime if it stopped now
   * @param downtime the downtime the guest saw, once the job completed; zero before
   * @param throttlePercent how much the hypervisor throttles the vCPUs (auto-converge)
   * @param elapsed time since the job started
   * @param postCopyRequests pages the destination asked the source for during post-copy
   */
  record Stats(JobState state, long iteration, DataSize total, DataSize processed, DataSize remaining,
      long normalPages, long zeroPages, long bytesOnWire, long dirtyRatePagesPerSecond, int pageSize,
      Bandwidth bandwidth, Duration expectedDowntime, Duration downtime, int throttlePercent,
      Duration elapsed, long postCopyRequests) {
    public Stats {
      Objects.requireNonNull(state, "state");
      Objects.requireNonNull(total, "total");
      Objects.requireNonNull(processed, "processed");
      Objects.requireNonNull(remaining, "remaining");
      Objects.requireNonNull(bandwidth, "bandwidth");
      Objects.requireNonNull(expectedDowntime, "expectedDowntime");
      Objects.requireNonNull(downtime, "downtime");
      Objects.requireNonNull(elapsed, "elapsed");
      if (pageSize <= 0) {
        throw new IllegalArgumentException("page size must be positive: " + pageSize);
      }
    }

    /** A sample with no post-copy requests reported. */
    public Stats(JobState state, long iteration, DataSize total, DataSize processed, DataSize remaining,
        long normalPages, long zeroPages, long bytesOnWire, long dirtyRatePagesPerSecond, int pageSize,
        Bandwidth bandwidth, Duration expectedDowntime, Duration downtime, int throttlePercent,
        Duration elapsed) {
      this(state, iteration, total, processed, remaining, normalPages, zeroPages, bytesOnWire,
          dirtyRatePagesPerSecond, pageSize, bandwidth, expectedDowntime, downtime, throttlePercent, elapsed, 0);
    }

    /** A sample with nothing reported yet. */
    public static Stats starting(DataSize total, int pageSize) {
      return new Stats(JobState.STARTING, 0, total, DataSize.ZERO, total, 0, 0, 0, 0, pageSize,
          Bandwidth.bytesPerSecond(0), Duration.ZERO, Duration.ZERO, 0, Duration.ZERO);
    }

    /** The same figures in another state. */
    public Stats withState(JobState next) {
      return new Stats(next, iteration, total, processed, remaining, normalPages, zeroPages, bytesOnWire,
          dirtyRatePagesPerSecond, pageSize, bandwidth, expectedDowntime, downtime, throttlePercent, elapsed,
          postCopyRequests);
    }
  }
}
