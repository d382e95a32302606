package dev.ferry.libvirt;

import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DriverException;
import dev.ferry.spi.HypervisorMigration.Flag;
import dev.ferry.spi.HypervisorMigration.Job;
import dev.ferry.spi.HypervisorMigration.JobState;
import dev.ferry.spi.HypervisorMigration.Request;
import dev.ferry.spi.HypervisorMigration.Result;
import dev.ferry.spi.HypervisorMigration.Stats;
import dev.ferry.spi.VmState;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.DomainJobStats;
import org.libvirt.LibvirtException;
import org.libvirt.TypedIntParameter;
import org.libvirt.TypedParameter;
import org.libvirt.TypedStringParameter;
import org.libvirt.TypedUlongParameter;

/**
 * One libvirt migration job: a managed direct migration ({@code virDomainMigrate3}), or with
 * {@link LibvirtMigrationOptions#peerToPeer()} a peer-to-peer one ({@code virDomainMigrateToURI3}), of
 * a domain to another libvirt host, sampled and steered while it runs.
 *
 * <p>Design:
 * <ul>
 *   <li>Three connections. The blocking {@code virDomainMigrate3} call runs on a thread of its own,
 *       on a connection of its own to the source; a second connection (the VM's host connection)
 *       samples {@code virDomainGetJobStats} and carries the controls (max downtime, max speed,
 *       start post-copy, suspend, abort); the third is the destination. Sampling on the connection
 *       that runs the blocking call hangs in native code after a few seconds.
 *   <li>Settings libvirt keeps on the domain from one migration to the next (max downtime, max
 *       speed) are set explicitly before every start, and passed again as typed parameters. The
 *       bandwidth cap holds in post-copy too ({@code bandwidth.postcopy}): QEMU keeps a separate,
 *       unlimited one for post-copy's background transfer unless told.
 *   <li>{@link #start} returns only once QEMU is moving memory; what libvirt refuses before that
 *       (same host, incompatible CPU, unreachable destination, a domain of that UUID already
 *       there) is thrown as a {@link DriverException} with libvirt's message, the domain still
 *       running on the source.
 *   <li>The outcome is decided by the destination: success is the domain pointer
 *       {@code virDomainMigrate3} returns on the destination connection and, read there after the
 *       job ended, a domain that is running (a crashed or vanished one is DESTINATION_FAILED, with
 *       libvirt's state and reason); its completed-job statistics (downtime, bytes, iterations)
 *       become the result, and where libvirt kept none (after post-copy) the result says the
 *       downtime is unknown and why. While the job runs,
 *       "Domain not found" on the source means libvirt has switched over and removed it; that is no
 *       failure, and the sample keeps its last figures until the migrate call returns.
 *   <li>On failure or abort the source is made to run again (it may have been suspended to force
 *       completion), except after post-copy began: then the destination was authoritative, and a
 *       stale source must never resume; libvirt-java's SuspendedDetail has no post-copy values, so
 *       post-copy is recognised from {@code virDomainGetState}'s reason, bound through JNA.
 * </ul>
 * Thread-safe: the sampler, the controls and the migrate thread share only volatile fields.
 */
final class LibvirtJob implements Job {
  private static final Logger log = Logger.getLogger(LibvirtJob.class.getName());
  private static final Duration START_WAIT = Duration.ofSeconds(30);
  static final String LAST_SAMPLE = "libvirt kept no completed-job statistics: bytes and pages are those of the "
      + "job's last sample, taken up to one poll before it ended";

  private final LibvirtVm vm;
  private final NativeCalls calls;
  private final Domain control;
  private final Connect jobConn;
  private final Connect destConn;
  private final Request request;
  private final LibvirtMigrationOptions options;
  private final String name;
  private final String uuid;
  private final CountDownLatch done = new CountDownLatch(1);
  private volatile Stats last;
  private volatile Result result;
  private volatile boolean abortRequested;
  private volatile boolean forced;
  private volatile boolean postCopyStarted;

  private LibvirtJob(LibvirtVm vm, NativeCalls calls, Connect jobConn, Connect destConn, Request request) {
    this.vm = vm;
    this.calls = calls;
    this.control = vm.domain();
    this.jobConn = jobConn;
    this.destConn = destConn;
    this.request = request;
    this.options = LibvirtMigrationOptions.of(request);
    this.name = vm.description().name();
    this.uuid = vm.description().id().value();
    this.last = Stats.starting(vm.description().memory(), vm.description().pageSize());
  }

  static LibvirtJob start(LibvirtHost host, LibvirtVm vm, Request r) {
    return start(host, vm, r, NativeCalls.LIBVIRT);
  }

  /** {@link #start(LibvirtHost, LibvirtVm, Request)} with the native calls given (a seam for unit tests). */
  static LibvirtJob start(LibvirtHost host, LibvirtVm vm, Request r, NativeCalls calls) {
    String name = vm.description().name();
    LibvirtMigrationOptions.of(r); // another backend's options: refused before anything is opened
    VmState state = vm.state();
    if (state != VmState.RUNNING) {
      throw new DriverException("domain '" + name + "' is " + state + " on " + host.uri()
          + "; only a running domain can be migrated live");
    }
    Connect dest;
    try {
      dest = calls.connect(r.destination());
    } catch (DriverException e) {
      throw new DriverException("destination unreachable: " + e.getMessage(), e);
    }
    Connect jobConn = null;
    try {
      String destUuid = LibvirtHost.Capabilities.parse(dest.getCapabilities()).uuid;
      if (!destUuid.isEmpty() && destUuid.equalsIgnoreCase(host.info().id().value())) {
        throw new DriverException("the destination " + r.destination() + " is the same libvirt host as the "
            + "source " + host.uri() + " (host UUID " + destUuid + "): libvirt migrates only between hosts");
      }
      refuseIfPresent(dest, vm, r.destination());
      jobConn = calls.connect(host.uri());
      Domain jobDom = jobConn.domainLookupByUUIDString(vm.description().id().value());
      LibvirtJob job = new LibvirtJob(vm, calls, jobConn, dest, r);
      job.applySettings();
      job.launch(jobDom, job.parameters(), job.flags());
      job.awaitStarted();
      return job;
    } catch (LibvirtException e) {
      closeAll(jobConn, dest);
      throw Errors.driver("starting the migration of '" + name + "' to " + r.destination(), e);
    } catch (RuntimeException e) {
      closeAll(jobConn, dest);
      throw e;
    }
  }

  private static void refuseIfPresent(Connect dest, LibvirtVm vm, URI destination) throws LibvirtException {
    try {
      Domain there = dest.domainLookupByUUIDString(vm.description().id().value());
      throw new DriverException("the destination " + destination + " already has a domain with UUID "
          + vm.description().id() + " ('" + there.getName() + "')");
    } catch (LibvirtException e) {
      if (!Errors.noDomain(e)) {
        throw e;
      }
    }
  }

  private static void closeAll(Connect... cs) {
    for (Connect c : cs) {
      if (c != null) {
        LibvirtHost.closeQuietly(c);
      }
    }
  }

  /** Max downtime and max speed stay on the domain from one migration to the next: set them now. */
  private void applySettings() {
    try {
      control.migrateSetMaxDowntime(Math.max(1, request.maxDowntime().toMillis()));
    } catch (LibvirtException e) {
      throw Errors.driver("setting the max downtime of '" + name + "'", e);
    }
    setBandwidth(request.bandwidth());
  }

  /**
   * The cap for post-copy's background transfer, which QEMU keeps apart from pre-copy's and leaves
   * unlimited unless told: whole MiB/s as {@link #mibps}, and 0 (QEMU's unlimited) for no cap.
   */
  static long postCopyMibps(Bandwidth b) {
    return b.isUnlimited() ? 0 : mibps(b);
  }

  /**
   * The cap as libvirt takes it: whole MiB/s ({@code virDomainMigrateSetMaxSpeed} and the
   * {@code bandwidth} migration parameter have no bytes-per-second form), rounded down so that
   * the cap given is never exceeded: 8 MB/s (7.63 MiB/s) becomes 7 MiB/s.
   *
   * @throws DriverException for a cap below 1 MiB/s, which libvirt cannot express (0 means
   *     unlimited to it) and rounding up would exceed
   */
  static long mibps(Bandwidth b) {
    if (b.isUnlimited()) {
      return VirtNative.MAX_BANDWIDTH_MIBPS;
    }
    long mib = b.bytesPerSecond() >> 20;
    if (mib < 1) {
      throw new DriverException("libvirt caps migration bandwidth in whole MiB/s: " + b + " is below 1 MiB/s "
          + "and rounding it up would exceed it");
    }
    return Math.min(mib, VirtNative.MAX_BANDWIDTH_MIBPS);
  }

  /** The URI QEMU migrates to: the destination's host name, or loopback for a local libvirt URI. */
  static String migrateUri(URI destination) {
    String h = destination.getHost();
    if (h == null || h.isEmpty() || "localhost".equalsIgnoreCase(h)) {
      return "tcp://127.0.0.1";
    }
    return "tcp://" + (h.contains(":") && !h.startsWith("[") ? "[" + h + "]" : h);
  }

  TypedParameter[] parameters() {
    List<TypedParameter> p = new ArrayList<>();
    p.add(new TypedStringParameter(Domain.DomainMigrateParameters.VIR_MIGRATE_PARAM_URI,
        options.migrateUri().orElseGet(() -> migrateUri(request.destination()))));
    options.listenAddress().ifPresent(a -> p.add(
        new TypedStringParameter(Domain.DomainMigrateParameters.VIR_MIGRATE_PARAM_LISTEN_ADDRESS, a)));
    p.add(new TypedUlongParameter(Domain.DomainMigrateParameters.VIR_MIGRATE_PARAM_BANDWIDTH,
        mibps(request.bandwidth())));
    if (request.flags().contains(Flag.POST_COPY)) {
      p.add(new TypedUlongParameter(Domain.DomainMigrateParameters.VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY,
          postCopyMibps(request.bandwidth())));
    }
    request.destinationConfig().ifPresent(xml -> p.add(
        new TypedStringParameter(Domain.DomainMigrateParameters.VIR_MIGRATE_PARAM_DEST_XML, xml)));
    if (request.parallelConnections() > 1) {
      p.add(new TypedIntParameter(Domain.DomainMigrateParameters.VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS,
          request.parallelConnections()));
    }
    return p.toArray(new TypedParameter[0]);
  }

  long flags() {
    return flags(request, options, vm.persistent());
  }

  /**
   * libvirt's flags for the request: persistence on the destination and undefining the source as
   * the libvirt options say, else (Ferry's default) exactly when the domain is defined on the
   * source; {@code VIR_MIGRATE_PEER2PEER} and {@code VIR_MIGRATE_TLS} when the options ask for them.
   */
  static long flags(Request r, LibvirtMigrationOptions o, boolean persistent) {
    long f = 0;
    for (Flag flag : r.flags()) {
      switch (flag) {
        case LIVE -> f |= Domain.MigrateFlags.LIVE;
        case PERSIST_DESTINATION -> f |= o.persistDestination().orElse(persistent) ? Domain.MigrateFlags.PERSIST_DEST : 0;
        case UNDEFINE_SOURCE -> f |= o.undefineSource().orElse(persistent) ? Domain.MigrateFlags.UNDEFINE_SOURCE : 0;
        case AUTO_CONVERGE -> f |= Domain.MigrateFlags.AUTO_CONVERGE;
        case POST_COPY -> f |= Domain.MigrateFlags.POSTCOPY;
        case COMPRESSED -> f |= Domain.MigrateFlags.COMPRESSED;
        case PARALLEL -> f |= Domain.MigrateFlags.PARALLEL;
        default -> throw new IllegalArgumentException("unknown flag " + flag);
      }
    }
    if (r.parallelConnections() > 1) {
      f |= Domain.MigrateFlags.PARALLEL;
    }
    if (o.peerToPeer()) {
      f |= Domain.MigrateFlags.PEER2PEER;
    }
    if (o.tls()) {
      f |= Domain.MigrateFlags.TLS;
    }
    return f;
  }

  private void launch(Domain jobDom, TypedParameter[] params, long flags) {
    log.fine(() -> "migrating " + name + " to " + request.destination() + " with flags " + flags);
    Thread t = new Thread(() -> {
      Domain onDest = null;
      Throwable error = null;
      try {
        onDest = options.peerToPeer() ? migratePeerToPeer(jobDom, params, flags) : jobDom.migrate(destConn, params, flags);
      } catch (LibvirtException | RuntimeException | Error e) {
        // An Error too (a JNA link error, say): the job must end with a result, never hang undone.
        error = e;
      }
      try {
        result = decide(onDest, error);
      } catch (RuntimeException | Error e) {
        log.log(Level.WARNING, "deciding the outcome of the migration of " + name, e);
        result = new Result(Result.Outcome.FAILED, String.valueOf(e.getMessage()), last.withState(JobState.ENDED),
            Optional.empty(), Optional.of(LAST_SAMPLE));
      } finally {
        closeAll(jobConn, destConn);
        done.countDown();
      }
    }, "ferry-libvirt-migrate-" + name);
    t.setDaemon(true);
    t.start();
  }

  /**
   * Peer-to-peer: the source's daemon drives the migration to the destination URI itself
   * ({@code virDomainMigrateToURI3}; {@code virDomainMigrate3} refuses PEER2PEER). It returns no
   * domain: the destination's is looked up by UUID on Ferry's own destination connection.
   */
  private Domain migratePeerToPeer(Domain jobDom, TypedParameter[] params, long flags) throws LibvirtException {
    jobDom.migrateToURI(request.destination().toString(), params, (int) flags);
    return destConn.domainLookupByUUIDString(uuid);
  }

  /** Waits until QEMU moves memory (or the job ended early), so that refusals surface from start. */
  private void awaitStarted() {
    long deadline = System.nanoTime() + START_WAIT.toNanos();
    while (System.nanoTime() < deadline) {
      try {
        if (done.await(50, TimeUnit.MILLISECONDS)) {
          Result r = result;
          if (r.outcome() == Result.Outcome.COMPLETED) {
            return;
          }
          throw new DriverException("libvirt refused to migrate '" + name + "' to " + request.destination()
              + ": " + r.message());
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        abort();
        throw new DriverException("interrupted while starting the migration of '" + name + "'");
      }
      Stats s = stats();
      if (s.total().bytes() > 0 && (s.processed().bytes() > 0 || s.iteration() > 0)
          && s.state() != JobState.STARTING) {
        return;
      }
    }
    abort();
    throw new DriverException("the migration of '" + name + "' did not start moving memory within " + START_WAIT);
  }

  @Override
  public Stats stats() {
    Result r = result;
    if (r != null) {
      return r.stats();
    }
    try {
      DomainJobStats js = control.getJobStats(0);
      if (!JobStatsParser.active(js.type)) {
        return last;
      }
      Map<String, Object> values = JobStatsParser.values(js.stats);
      if (!values.containsKey("memory_total")) {
        return last; // libvirt has the job, QEMU has not started moving memory yet
      }
      int[] sr = calls.state(control);
      Stats s = JobStatsParser.stats(JobStatsParser.runningState(sr[0], sr[1]), values,
          vm.description().memory(), false);
      last = s;
      return s;
    } catch (LibvirtException | DriverException e) {
      if (!Errors.noDomain(e)) {
        log.log(Level.FINE, "sampling the migration of " + name, e);
      }
      // "Domain not found": libvirt switched over and removed the source; the migrate call decides.
      return last;
    }
  }

  @Override
  public void setMaxDowntime(Duration downtime) {
    try {
      control.migrateSetMaxDowntime(Math.max(1, downtime.toMillis()));
    } catch (LibvirtException e) {
      throw Errors.driver("setting the max downtime of '" + name + "'", e);
    }
  }

  /** Sets the cap of pre-copy and, for a job that may switch to post-copy, post-copy's too. */
  @Override
  public void setBandwidth(Bandwidth bandwidth) {
    calls.setMaxSpeed(control, mibps(bandwidth));
    if (request.flags().contains(Flag.POST_COPY)) {
      calls.setMaxPostCopySpeed(control, postCopyMibps(bandwidth));
    }
  }

  @Override
  public void startPostCopy() {
    if (!request.flags().contains(Flag.POST_COPY)) {
      throw new DriverException("post-copy was not enabled when the migration of '" + name + "' started");
    }
    postCopyStarted = true;
    calls.startPostCopy(control);
  }

  @Override
  public void forceCompletion() {
    forced = true;
    try {
      control.suspend();
    } catch (LibvirtException e) {
      throw Errors.driver("suspending '" + name + "' to force completion", e);
    }
  }

  @Override
  public void abort() {
    abortRequested = true;
    if (result != null) {
      return;
    }
    try {
      control.abortJob();
    } catch (LibvirtException | RuntimeException e) {
      log.log(Level.FINE, "aborting the migration of " + name + ": " + Errors.message(e));
    }
  }

  @Override
  public boolean isDone() {
    return result != null;
  }

  @Override
  public Optional<Result> result() {
    return Optional.ofNullable(result);
  }

  @Override
  public Optional<Result> await(Duration timeout) throws InterruptedException {
    done.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
    return Optional.ofNullable(result);
  }

  // ---------------------------------------------------------------- outcome

  private Result decide(Domain onDest, Throwable error) {
    if (error == null && onDest != null) {
      return confirmed(onDest, "");
    }
    String message = error == null ? "libvirt returned no domain on the destination" : Errors.message(error);
    int[] sr;
    try {
      sr = calls.state(control);
    } catch (VirtNative.DomainGoneException e) {
      return sourceGone(message);
    }
    boolean postCopy = postCopyStarted
        || sr[0] == VirtNative.STATE_PAUSED
            && (sr[1] == VirtNative.PAUSED_POSTCOPY || sr[1] == VirtNative.PAUSED_POSTCOPY_FAILED)
        || sr[0] == VirtNative.STATE_RUNNING && sr[1] == VirtNative.RUNNING_POSTCOPY_FAILED;
    Optional<Stats> totals = completedStats(control);
    Stats s = totals.orElseGet(() -> last.withState(JobState.ENDED));
    Optional<String> notFinal = totals.isPresent() ? Optional.empty() : Optional.of(LAST_SAMPLE);
    // running after a post-copy start that never switched: the source still holds the VM; but a
    // post-copy-failed reason means the destination took over, whatever the run state says
    if (postCopy && (sr[0] != VirtNative.STATE_RUNNING || sr[1] == VirtNative.RUNNING_POSTCOPY_FAILED)) {
      return new Result(Result.Outcome.POST_COPY_FAILED, message, s, Optional.empty(), notFinal);
    }
    if (sr[0] == VirtNative.STATE_PAUSED) {
      try {
        control.resume(); // suspended to force completion, or left paused by the failed switchover
      } catch (LibvirtException e) {
        log.warning("resuming " + name + " on the source after a failed migration: " + Errors.message(e));
      }
    }
    return new Result(abortRequested ? Result.Outcome.ABORTED : Result.Outcome.FAILED, message, s, Optional.empty(),
        notFinal);
  }

  /** The source domain vanished and the migrate call failed: only the destination can tell. */
  private Result sourceGone(String message) {
    try {
      Domain there = destConn.domainLookupByUUIDString(uuid);
      int[] sr = calls.state(there);
      if (sr[0] == VirtNative.STATE_RUNNING || sr[0] == VirtNative.STATE_PAUSED) {
        log.warning("migration of " + name + " reported '" + message + "', but the destination has it: confirming");
        return confirmed(there, message);
      }
    } catch (LibvirtException | DriverException e) {
      log.log(Level.FINE, "looking for " + name + " on the destination", e);
    }
    return new Result(Result.Outcome.FAILED, message + " (the domain is gone from the source and the "
        + "destination does not run it)", last.withState(JobState.ENDED), Optional.empty(), Optional.of(LAST_SAMPLE));
  }

  /**
   * The job ended with the domain on the destination: COMPLETED only if the destination runs it now
   * (state and reason read there, after a forced completion's resume); otherwise DESTINATION_FAILED
   * with what the destination said. The domain of a transient guest whose QEMU died is gone at once.
   */
  private Result confirmed(Domain onDest, String jobMessage) {
    Map<String, Object> completed = completedValues(onDest);
    boolean postCopy = postCopyStarted || last.state() == JobState.POST_COPY;
    Stats s = completed.isEmpty() ? last.withState(JobState.ENDED)
        : JobStatsParser.stats(JobState.ENDED, completed, vm.description().memory(), true);
    Optional<String> unknown = JobStatsParser.downtimeUnknown(completed, postCopy);
    Optional<String> notFinal = completed.isEmpty() ? Optional.of(LAST_SAMPLE) : Optional.empty();
    resumeOnDestinationIfForced(onDest);
    String said;
    try {
      int[] sr = calls.state(onDest);
      String refusal = notRunning(sr[0], sr[1]);
      if (refusal == null) {
        log.fine(() -> "migration of " + name + " to " + request.destination() + " completed, confirmed by the "
            + "destination (running)");
        return new Result(Result.Outcome.COMPLETED, "", s, unknown, notFinal);
      }
      said = "the destination reports the domain " + refusal;
    } catch (VirtNative.DomainGoneException e) {
      said = "the domain is gone from the destination (" + e.getMessage() + ")";
    } catch (DriverException e) {
      said = "the destination's state of the domain cannot be read (" + e.getMessage() + ")";
    }
    String full = said + (jobMessage.isEmpty() ? "" : "; the migrate call said: " + jobMessage);
    log.warning("migration of " + name + " to " + request.destination() + " switched over, but " + full);
    return new Result(Result.Outcome.DESTINATION_FAILED, full, s,
        Optional.of(unknown.orElse("the destination stopped running the guest after the switch")), notFinal);
  }

  /** Null when a domain in this state and reason runs its guest; otherwise the state in words. */
  static String notRunning(int state, int reason) {
    if (state == VirtNative.STATE_RUNNING && reason != VirtNative.RUNNING_POSTCOPY_FAILED) {
      return null;
    }
    return VirtNative.stateName(state) + " (reason " + VirtNative.reasonName(state, reason) + ")";
  }

  private void resumeOnDestinationIfForced(Domain onDest) {
    if (!forced) {
      return;
    }
    try {
      int[] sr = calls.state(onDest);
      if (sr[0] == VirtNative.STATE_PAUSED) {
        onDest.resume();
      }
    } catch (LibvirtException | DriverException e) {
      log.warning("resuming " + name + " on the destination after a forced completion: " + Errors.message(e));
    }
  }

  private Optional<Stats> completedStats(Domain d) {
    Map<String, Object> values = completedValues(d);
    if (values.isEmpty()) {
      return Optional.empty();
    }
    return Optional.of(JobStatsParser.stats(JobState.ENDED, values, vm.description().memory(), true));
  }

  /** The completed job's statistics libvirt keeps on the domain; empty when it keeps none. */
  private Map<String, Object> completedValues(Domain d) {
    try {
      DomainJobStats js = d.getJobStats(VirtNative.JOB_STATS_COMPLETED);
      return JobStatsParser.values(js.stats);
    } catch (LibvirtException | RuntimeException e) {
      log.log(Level.FINE, "reading completed job statistics of " + name, e);
      return Map.of();
    }
  }
}
