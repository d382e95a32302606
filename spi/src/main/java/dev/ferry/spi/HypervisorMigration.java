package dev.ferry.spi;

import java.net.URI;
import java.time.Duration;
import java.util.Objects;
import java.util.Set;

/**
 * A migration that the hypervisor carries out itself (libvirt/QEMU copy memory on their own);
 * Ferry starts it, samples its statistics and applies its policies through the job's controls.
 */
public interface HypervisorMigration {

  /**
   * Starts a migration of this VM to the destination the request names, and returns at once.
   *
   * @throws DriverException if the hypervisor refuses it (unreachable destination, same host,
   *     incompatible CPU)
   */
  Job start(Request request);

  /** What to start. */
  record Request(URI destination, Duration maxDowntime, Bandwidth bandwidth, int parallelConnections,
      Set<Flag> flags) {
    public Request {
      Objects.requireNonNull(destination, "destination");
      Objects.requireNonNull(maxDowntime, "maxDowntime");
      Objects.requireNonNull(bandwidth, "bandwidth");
      flags = Set.copyOf(flags);
      if (parallelConnections < 1) {
        throw new IllegalArgumentException("parallel connections must be at least 1: " + parallelConnections);
      }
    }
  }

  /** Options of a hypervisor-driven migration. */
  enum Flag { LIVE, PERSIST_DESTINATION, UNDEFINE_SOURCE, AUTO_CONVERGE, POST_COPY, COMPRESSED }

  /** A running hypervisor-driven migration. Thread-safe. */
  interface Job {
    /** A sample of the job's statistics now. */
    Stats stats();

    void setMaxDowntime(Duration downtime);

    void setBandwidth(Bandwidth bandwidth);

    /** Switches a running pre-copy to post-copy; requires {@link Flag#POST_COPY} at start. */
    void startPostCopy();

    /** Aborts the job; the VM keeps running on the source. */
    void abort();

    /** Whether the job has ended, successfully or not. */
    boolean isDone();
  }

  /**
   * One sample of a hypervisor-driven job.
   *
   * @param iteration the pre-copy round the hypervisor is in (1 is the first full pass)
   * @param total guest memory to move
   * @param processed memory sent so far
   * @param remaining memory still to send
   * @param dirtyRatePagesPerSecond pages dirtied per second, as the hypervisor measured it
   * @param bandwidth transfer rate now
   * @param expectedDowntime the hypervisor's estimate of the downtime if it stopped now
   * @param elapsed time since the job started
   */
  record Stats(long iteration, DataSize total, DataSize processed, DataSize remaining,
      long dirtyRatePagesPerSecond, Bandwidth bandwidth, Duration expectedDowntime, Duration elapsed) {}
}
