package dev.ferry.libvirt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.DestinationRefusedException;
import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.HostException;
import dev.ferry.MigrationEvent;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationRefusedException;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationSession;
import dev.ferry.Phase;
import dev.ferry.Vm;
import dev.ferry.VmNotFoundException;
import dev.ferry.policy.ConvergencePolicy;
import dev.ferry.policy.Decision;
import dev.ferry.policy.PolicyAction;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.VmState;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Live migrations of a real QEMU guest between two real libvirt daemons, through Ferry's public
 * API, checked on the guest's own serial output: its heartbeat must go on (on the destination after
 * a migration, on the source after a rollback) and it must never report CORRUPT memory.
 *
 * <p>Non-convergence is made with a low bandwidth cap, not with an extreme dirty rate (QEMU 7.2's
 * TCG loses dirty bits under heavy dirtying).
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class LibvirtMigrationIT {
  private static final AtomicInteger SEQ = new AtomicInteger();
  private static final Duration BOOT = Duration.ofSeconds(90);

  private ItStack stack;
  private Host source;
  private Host destination;
  private final List<String> guests = new ArrayList<>();

  @BeforeEach
  void open() {
    stack = ItStack.get();
    source = Ferry.connect(stack.src);
    destination = Ferry.connect(stack.dst);
  }

  @AfterEach
  void close() {
    for (String g : guests) {
      stack.destroyEverywhere(g);
    }
    source.close();
    destination.close();
  }

  private ItStack.Guest guest(int regionMib, int rateMibps) throws InterruptedException {
    String name = "ferry-it-" + ProcessHandle.current().pid() + "-" + SEQ.incrementAndGet();
    guests.add(name);
    ItStack.Guest g = stack.startGuest(name, regionMib, rateMibps);
    g.awaitHeartbeats(g.sourceLog, 2, BOOT);
    return g;
  }

  private static long last(List<Long> hb) {
    return hb.isEmpty() ? 0 : Collections.max(hb);
  }

  /** Waits until the guest has checked a whole pass of its memory on {@code log} after {@code gen}. */
  private static void awaitFullPassAfter(ItStack.Guest g, java.nio.file.Path log, long gen, Duration timeout)
      throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (maxGen(log) < gen + 2) {
      assertThat(System.nanoTime()).as("guest %s on %s: generation %d not reached; log:%n%s", g.name, log, gen + 2,
          ItStack.Guest.read(log)).isLessThan(deadline);
      Thread.sleep(250);
    }
  }

  private static long maxGen(java.nio.file.Path log) {
    long max = 0;
    for (String line : ItStack.Guest.read(log).split("\n")) {
      java.util.regex.Matcher m = ItStack.HB.matcher(line.trim());
      if (m.matches()) {
        max = Math.max(max, Long.parseLong(m.group(2)));
      }
    }
    return max;
  }

  @Test
  void migrate_runningGuest_completesAndHeartbeatContinuesOnDestination() throws Exception {
    ItStack.Guest g = guest(16, 4);
    Vm vm = source.vm(g.name);
    assertThat(vm.state()).isEqualTo(VmState.RUNNING);
    List<MigrationEvent> events = new CopyOnWriteArrayList<>();
    MigrationSession s = source.migrate(vm, destination.target(), MigrationOptions.builder()
        .maxDowntime(Duration.ofMillis(500))
        .bandwidthLimit(Bandwidth.mibps(16))
        .deadline(Duration.ofMinutes(2))
        .policy(ConvergencePolicy.untilDeadline())
        .listener(events::add)
        .build());
    MigrationResult r = s.completion().get(150, TimeUnit.SECONDS);
    long genAtEnd = maxGen(g.sourceLog);

    assertThat(r.outcome()).as("%s", r).isEqualTo(MigrationResult.Outcome.COMPLETED);
    assertThat(r.downtime().orElseThrow()).as("downtime from libvirt").isPositive().isLessThan(Duration.ofSeconds(5));
    // paced by the 16 MiB/s cap: at least most of bytes / cap.
    assertThat(r.totalTime()).as("total time, on the caller's clock")
        .isGreaterThanOrEqualTo(Duration.ofMillis((long) (r.bytesOnWire() / (16.0 * (1 << 20)) * 1000 * 0.8)));
    System.out.println("completed: " + r);
    // The guest fills its 16 MiB region at 4 MiB/s, so what is non-zero at migration time depends on
    // how long it ran first (4.2 to 7.3 MB seen): check only that real data, not just markers, moved.
    assertThat(r.bytesOnWire()).as("bytes libvirt sent").isGreaterThan(1L << 20);
    assertThat(r.pagesSent()).as("every page went, zero pages as markers").isGreaterThanOrEqualTo(
        vm.memory().bytes() / 4096);
    assertThat(r.rounds()).isNotEmpty();
    List<MigrationEvent.RoundCompleted> rounds = events.stream()
        .filter(MigrationEvent.RoundCompleted.class::isInstance).map(MigrationEvent.RoundCompleted.class::cast).toList();
    assertThat(rounds).as("progress events during the job").isNotEmpty();
    long prev = -1;
    long prevRound = -1;
    for (MigrationEvent.RoundCompleted rc : rounds) {
      assertThat(rc.progress().transferred().bytes()).as("transferred never runs backwards").isGreaterThanOrEqualTo(prev);
      assertThat(rc.stats().round()).as("round numbers grow").isGreaterThan(prevRound);
      prev = rc.progress().transferred().bytes();
      prevRound = rc.stats().round();
    }
    assertThat(r.bytesNotFinal()).as("libvirt's completed-job totals, not a last sample").isEmpty();
    assertDocumentedOrder(events, Phase.STOP_AND_COPY);
    assertThat(r.rounds().get(r.rounds().size() - 1).stopAndCopy()).isTrue();
    assertThat(r.rounds().subList(0, r.rounds().size() - 1)).as("rounds before the last are pre-copy")
        .noneMatch(dev.ferry.RoundStats::stopAndCopy);
    assertThat(r.rounds().get(0).round()).as("the bulk pass is round 0").isZero();
    assertThat(r.rounds()).allSatisfy(rs -> assertThat(rs.zeroPages()).as("%s", rs).isLessThanOrEqualTo(rs.pagesSent()));
    assertThat(r.rounds().get(r.rounds().size() - 1).duration()).as("the stop-and-copy lasted its pause at least")
        .isGreaterThanOrEqualTo(r.downtime().orElseThrow());

    assertThat(destination.vm(g.name).state()).isEqualTo(VmState.RUNNING);
    assertThat(source.vms()).extracting(Vm::name).doesNotContain(g.name);
    long lastOnSource = last(ItStack.Guest.heartbeats(g.sourceLog));
    List<Long> onDest = g.awaitHeartbeatAfter(g.destinationLog, lastOnSource, 3, Duration.ofSeconds(30));
    assertThat(Collections.min(onDest)).as("the heartbeat count continues, the guest did not restart")
        .isGreaterThanOrEqualTo(lastOnSource).isLessThanOrEqualTo(lastOnSource + 5);
    awaitFullPassAfter(g, g.destinationLog, genAtEnd, Duration.ofSeconds(30));
    assertThat(ItStack.Guest.corruption(g.destinationLog)).isEmpty();
    assertThat(ItStack.Guest.corruption(g.sourceLog)).isEmpty();
  }

  @Test
  void migrate_nonConvergingGuest_policySwitchesToPostCopy_completes() throws Exception {
    ItStack.Guest g = guest(32, 6);
    Vm vm = source.vm(g.name);
    List<MigrationEvent> events = new CopyOnWriteArrayList<>();
    long began = System.nanoTime();
    MigrationSession s = source.migrate(vm, destination.target(), postCopyAfter3s().listener(events::add).build());
    MigrationResult r = s.completion().get(150, TimeUnit.SECONDS);
    Duration waited = Duration.ofNanos(System.nanoTime() - began);
    long genAtEnd = maxGen(g.sourceLog);
    System.out.println("post-copy: " + r.outcome() + ", downtime " + r.downtimeText() + ", total "
        + r.totalTime().toMillis() + " ms (caller waited " + waited.toMillis() + " ms), " + r.postCopy());

    assertThat(r.outcome()).as("%s", r).isEqualTo(MigrationResult.Outcome.COMPLETED);
    assertThat(r.actions()).anyMatch(a -> a.startsWith("post-copy: the guest resumes on the destination"));
    // a downtime is a measurement or says why there is none; never a 0 standing for "not known"
    if (r.downtime().isPresent()) {
      assertThat(r.downtime().get()).as("measured downtime").isPositive();
    } else {
      assertThat(r.downtimeUnknown()).as("why the downtime is unknown").hasValueSatisfying(w -> assertThat(w).isNotBlank());
    }
    assertThat(r.postCopy()).as("post-copy statistics").isPresent();
    assertThat(r.totalTime()).as("total time on the caller's clock, within what the caller waited")
        .isLessThanOrEqualTo(waited);
    MigrationEvent.Finished finished = (MigrationEvent.Finished) events.get(events.size() - 1);
    assertThat(r.totalTime()).isLessThanOrEqualTo(finished.elapsed());
    assertThat(finished.result().downtime()).isEqualTo(r.downtime());
    int switched = -1;
    for (int i = 0; i < events.size(); i++) {
      if (events.get(i) instanceof MigrationEvent.PhaseChanged pc && pc.to() == Phase.POST_COPY) {
        switched = i;
        break;
      }
    }
    assertThat(switched).as("PhaseChanged(POST_COPY) among %s", events).isGreaterThanOrEqualTo(0);
    List<MigrationEvent> after = events.subList(switched + 1, events.size());
    assertThat(after).as("the documented order: no round after the switch to post-copy")
        .noneMatch(MigrationEvent.RoundCompleted.class::isInstance);
    assertThat(after).as("post-copy progress reported").anyMatch(MigrationEvent.PostCopyProgress.class::isInstance);
    assertDocumentedOrder(events, Phase.POST_COPY);
    // libvirt keeps no completed-job statistics after post-copy: bytes are the last sample's, and said so
    assertThat(r.bytesNotFinal()).as("bytes and pages are a last sample").hasValueSatisfying(w ->
        assertThat(w).contains("last sample"));
    assertThat(r.bytesOnWire()).as("a lower bound, still what was sampled").isPositive();
    assertThat(destination.vm(g.name).state()).isEqualTo(VmState.RUNNING);
    long lastOnSource = last(ItStack.Guest.heartbeats(g.sourceLog));
    g.awaitHeartbeatAfter(g.destinationLog, lastOnSource, 3, Duration.ofSeconds(30));
    awaitFullPassAfter(g, g.destinationLog, genAtEnd, Duration.ofSeconds(40));
    assertThat(ItStack.Guest.corruption(g.destinationLog)).isEmpty();
    assertThat(ItStack.Guest.corruption(g.sourceLog)).isEmpty();
  }

  /**
   * Regression, issue 12: this test saw COMPLETED in 2 of 3 runs. Post-copy ran uncapped (QEMU keeps
   * a post-copy bandwidth of its own, unlimited unless told), so at the first sample in post-copy,
   * when the kill came, the source's job had no memory left to move ({@code memory_remaining} 0, seen
   * in two logged runs) and the kill landed in libvirt's end of an already finished transfer, racing
   * its confirmation, instead of during post-copy. With the cap applied to post-copy too, the kill
   * lands while pages are still to move, which the test now checks before anything else.
   */
  @Test
  void migrate_destinationQemuKilledRightAfterSwitchToPostCopy_neverCompleted() throws Exception {
    ItStack.Guest g = guest(32, 6);
    Vm vm = source.vm(g.name);
    List<String> killed = new CopyOnWriteArrayList<>();
    List<Long> remainingAtKill = new CopyOnWriteArrayList<>();
    org.libvirt.Connect watch = new org.libvirt.Connect(stack.src, true);
    MigrationResult r;
    try {
      org.libvirt.Domain onSource = watch.domainLookupByName(g.name);
      MigrationSession s = source.migrate(vm, destination.target(), postCopyAfter3s()
          .listener(e -> {
            if (e instanceof MigrationEvent.PhaseChanged pc && pc.to() == Phase.POST_COPY) {
              long pid = ItStack.incomingQemuPid(g.name);
              List<String> qemus = ItStack.qemuPids(g.name);
              long remaining = sourceRemaining(onSource);
              if (pid > 0 && ProcessHandle.of(pid).map(ProcessHandle::destroyForcibly).orElse(false)) {
                killed.add("killed the destination's QEMU, pid " + pid + " (the guest's QEMUs: " + qemus + ")");
                remainingAtKill.add(remaining);
              }
            }
          })
          .build());
      r = s.completion().get(150, TimeUnit.SECONDS);
    } finally {
      watch.close();
    }
    System.out.println("destination killed after the switch: " + killed + ", the source's job then had "
        + remainingAtKill + " bytes to move -> " + r.outcome() + ": " + r.cause().map(Throwable::getMessage).orElse(""));

    assertThat(remainingAtKill).as("the kill landed while post-copy still had memory to move")
        .singleElement().satisfies(b -> assertThat(b).isPositive());
    assertThat(killed).as("the destination's QEMU was found and killed right after the switch").hasSize(1);
    assertThat(r.outcome()).as("%s", r).isNotEqualTo(MigrationResult.Outcome.COMPLETED)
        .isIn(MigrationResult.Outcome.DESTINATION_FAILED, MigrationResult.Outcome.IN_DOUBT);
    assertThat(r.cause()).as("what libvirt said").hasValueSatisfying(c -> assertThat(c.getMessage()).isNotBlank());
    assertThat(r.downtime()).as("no downtime figure for a guest that stopped running").isEmpty();
    assertThat(destination.vms()).filteredOn(v -> v.name().equals(g.name))
        .as("nothing runs the guest on the destination").allSatisfy(v -> assertThat(v.state()).isNotEqualTo(VmState.RUNNING));
    assertThat(source.vms()).filteredOn(v -> v.name().equals(g.name))
        .as("a stale source is never resumed").allSatisfy(v -> assertThat(v.state()).isNotEqualTo(VmState.RUNNING));
  }

  /**
   * The order {@code MigrationListener} documents: PhaseChanged into PRE_COPY first; rounds and
   * decisions; then PhaseChanged into {@code end} (STOP_AND_COPY: the stop-and-copy round's
   * RoundCompleted, nothing else; POST_COPY: only PostCopyProgress, at least one); PhaseChanged into
   * ENDED; Finished last and once.
   */
  private static void assertDocumentedOrder(List<MigrationEvent> events, Phase end) {
    assertThat(events.get(0)).as("first of %s", events).isInstanceOfSatisfying(MigrationEvent.PhaseChanged.class,
        pc -> assertThat(pc.to()).isEqualTo(Phase.PRE_COPY));
    assertThat(events).filteredOn(MigrationEvent.Finished.class::isInstance).hasSize(1);
    assertThat(events.get(events.size() - 1)).isInstanceOf(MigrationEvent.Finished.class);
    assertThat(events.get(events.size() - 2)).isInstanceOfSatisfying(MigrationEvent.PhaseChanged.class,
        pc -> assertThat(pc.to()).isEqualTo(Phase.ENDED));
    List<Phase> phases = events.stream().filter(MigrationEvent.PhaseChanged.class::isInstance)
        .map(e -> ((MigrationEvent.PhaseChanged) e).to()).toList();
    assertThat(phases).as("phases").containsExactly(Phase.PRE_COPY, end, Phase.ENDED);
    int from = -1;
    for (int i = 0; i < events.size(); i++) {
      if (events.get(i) instanceof MigrationEvent.PhaseChanged pc && pc.to() == end) {
        from = i;
      }
    }
    List<MigrationEvent> before = events.subList(1, from);
    assertThat(before).as("pre-copy: rounds and decisions only").allMatch(e ->
        e instanceof MigrationEvent.RoundCompleted rc && !rc.stats().stopAndCopy() || e instanceof MigrationEvent.Decision);
    List<MigrationEvent> tail = events.subList(from + 1, events.size() - 2);
    if (end == Phase.POST_COPY) {
      assertThat(tail).as("after the switch: post-copy progress only").isNotEmpty()
          .allMatch(MigrationEvent.PostCopyProgress.class::isInstance);
    } else {
      assertThat(tail).as("after PhaseChanged(STOP_AND_COPY): the stop-and-copy round").singleElement()
          .isInstanceOfSatisfying(MigrationEvent.RoundCompleted.class, rc -> assertThat(rc.stats().stopAndCopy()).isTrue());
    }
  }

  /**
   * Options of a migration that does not converge under its 4 MiB/s cap (the guests that use it
   * dirty 6 MiB/s) and that a policy switches to post-copy after 3 s.
   */
  private static MigrationOptions.Builder postCopyAfter3s() {
    ConvergencePolicy after3s = p -> p.elapsed().compareTo(Duration.ofSeconds(3)) > 0 && p.postCopyAvailable()
        ? Decision.of("test: post-copy after 3 s", new PolicyAction.SwitchToPostCopy())
        : Decision.keepGoing();
    return MigrationOptions.builder()
        .maxDowntime(Duration.ofMillis(100))
        .bandwidthLimit(Bandwidth.mibps(4))
        .deadline(Duration.ofMinutes(2))
        .allowPostCopy(true)
        .policy(after3s);
  }

  /** Options of a migration that should converge: 500 ms downtime, this cap, two minutes, no policy steps. */
  private static MigrationOptions.Builder untilDeadline(Bandwidth cap) {
    return MigrationOptions.builder()
        .maxDowntime(Duration.ofMillis(500))
        .bandwidthLimit(cap)
        .deadline(Duration.ofMinutes(2))
        .policy(ConvergencePolicy.untilDeadline());
  }

  /** The source's job's {@code memory_remaining} now; -1 when it has no job (the job ended). */
  private static long sourceRemaining(org.libvirt.Domain d) {
    try {
      org.libvirt.DomainJobStats js = d.getJobStats(0);
      if (!JobStatsParser.active(js.type)) {
        return -1;
      }
      return JobStatsParser.num(JobStatsParser.values(js.stats), "memory_remaining", -1);
    } catch (org.libvirt.LibvirtException e) {
      return -1; // the source domain is gone: libvirt ended the job
    }
  }

  @Test
  void migrate_capOf8MBps_neverMoreThan8000000BytesInAnySecondOfPreCopy() throws Exception {
    ItStack.Guest g = guest(32, 4);
    Vm vm = source.vm(g.name);
    // libvirt's own job statistics, sampled on a connection of the test's: data_processed and
    // time_elapsed come from the same query, so a window's bytes and its length agree. Only samples
    // taken while the guest still runs on the source count: the cap governs pre-copy, and QEMU
    // sends the last dirty pages of a paused guest as fast as it can.
    List<long[]> samples = new CopyOnWriteArrayList<>();
    MigrationSession s = source.migrate(vm, destination.target(), MigrationOptions.builder()
        .maxDowntime(Duration.ofMillis(500))
        .bandwidthLimit(Bandwidth.mbps(8))
        .deadline(Duration.ofMinutes(2))
        .policy(ConvergencePolicy.untilDeadline())
        .build());
    org.libvirt.Connect c = new org.libvirt.Connect(stack.src, true);
    try {
      org.libvirt.Domain d = c.domainLookupByName(g.name);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      while (!s.completion().isDone() && System.nanoTime() < deadline) {
        try {
          java.util.Map<String, Object> v = JobStatsParser.values(d.getJobStats(0).stats);
          boolean running = d.getInfo().state == org.libvirt.DomainInfo.DomainState.VIR_DOMAIN_RUNNING;
          if (running && v.get("data_processed") instanceof Long bytes && v.get("time_elapsed") instanceof Long ms) {
            samples.add(new long[] {ms, bytes});
          }
        } catch (org.libvirt.LibvirtException e) {
          if (Errors.noDomain(e)) {
            break; // the source domain is gone: the job switched over
          }
          // libvirt busy starting the job (migrate() now returns before it does): sample again
        }
        Thread.sleep(100);
      }
    } finally {
      c.close();
    }
    MigrationResult r = s.completion().get(150, TimeUnit.SECONDS);
    assertThat(r.outcome()).as("%s", r).isEqualTo(MigrationResult.Outcome.COMPLETED);

    int windows = 0;
    long worst = 0;
    for (int i = 0; i < samples.size(); i++) {
      for (int j = i + 1; j < samples.size(); j++) {
        long ms = samples.get(j)[0] - samples.get(i)[0];
        if (ms >= 1000) {
          long bytes = samples.get(j)[1] - samples.get(i)[1];
          worst = Math.max(worst, bytes * 1000 / ms);
          windows++;
          assertThat(bytes).as("bytes in the %d ms from %d ms", ms, samples.get(i)[0])
              .isLessThanOrEqualTo(8_000_000L * ms / 1000);
        }
      }
    }
    System.out.println("cap 8 MB/s: " + samples.size() + " job samples, " + windows + " windows of >= 1 s, "
        + "fastest " + worst + " B/s");
    assertThat(windows).as("the job lasted long enough to check a second of it").isPositive();
  }

  @Test
  void migrate_withDestinationXml_destinationSerialLogGoesWhereThatXmlSays() throws Exception {
    ItStack.Guest g = guest(16, 2);
    Vm vm = source.vm(g.name);
    String xml;
    org.libvirt.Connect c = new org.libvirt.Connect(stack.src, false);
    try {
      xml = c.domainLookupByName(g.name).getXMLDesc(8 /* VIR_DOMAIN_XML_MIGRATABLE */);
    } finally {
      c.close();
    }
    String elsewhere = g.name + "-elsewhere.log";
    String destXml = xml.replace(g.name + ".log", elsewhere);
    assertThat(destXml).as("the serial path is in the domain XML").isNotEqualTo(xml);
    MigrationResult r = source.migrate(vm, destination.target(), MigrationOptions.builder()
        .maxDowntime(Duration.ofMillis(500))
        .deadline(Duration.ofMinutes(2))
        .policy(ConvergencePolicy.untilDeadline())
        .destinationConfig(destXml)
        .build()).completion().get(150, TimeUnit.SECONDS);

    assertThat(r.outcome()).as("%s", r).isEqualTo(MigrationResult.Outcome.COMPLETED);
    java.nio.file.Path there = stack.dstLib.resolve("ferry-serial").resolve(elsewhere);
    long lastOnSource = last(ItStack.Guest.heartbeats(g.sourceLog));
    g.awaitHeartbeatAfter(there, lastOnSource, 2, Duration.ofSeconds(30));
    assertThat(ItStack.Guest.heartbeats(g.destinationLog)).as("nothing at the source's path on the destination")
        .isEmpty();
    assertThat(ItStack.Guest.corruption(there)).isEmpty();
  }

  @Test
  void migrate_nonConvergingGuest_policyAborts_rollsBackWithSourceRunning() throws Exception {
    ItStack.Guest g = guest(32, 6);
    Vm vm = source.vm(g.name);
    ConvergencePolicy abortAfter3s = p -> p.elapsed().compareTo(Duration.ofSeconds(3)) > 0
        ? Decision.of("test: give up after 3 s", new PolicyAction.Abort("test abort"))
        : Decision.keepGoing();
    MigrationSession s = source.migrate(vm, destination.target(), MigrationOptions.builder()
        .maxDowntime(Duration.ofMillis(100))
        .bandwidthLimit(Bandwidth.mibps(4))
        .deadline(Duration.ofMinutes(2))
        .policy(abortAfter3s)
        .build());
    MigrationResult r = s.completion().get(120, TimeUnit.SECONDS);

    assertThat(r.outcome()).as("%s", r).isEqualTo(MigrationResult.Outcome.ROLLED_BACK);
    assertThat(r.cause()).hasValueSatisfying(c -> assertThat(c.getMessage()).contains("test abort"));
    assertThat(r.actions()).anyMatch(a -> a.startsWith("abort: test abort"));
    assertGuestRunsOnSourceOnly(g);
  }

  @Test
  void cancel_midMigration_guestKeepsRunningOnSource() throws Exception {
    ItStack.Guest g = guest(32, 6);
    Vm vm = source.vm(g.name);
    MigrationSession s = source.migrate(vm, destination.target(), MigrationOptions.builder()
        .maxDowntime(Duration.ofMillis(100))
        .bandwidthLimit(Bandwidth.mibps(4))
        .deadline(Duration.ofMinutes(2))
        .policy(ConvergencePolicy.untilDeadline())
        .build());
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (s.progress().transferred().bytes() < (4L << 20)) {
      assertThat(System.nanoTime()).as("no memory moved within 30 s").isLessThan(deadline);
      Thread.sleep(50);
    }
    assertThat(s.cancel()).isTrue();
    MigrationResult r = s.completion().get(60, TimeUnit.SECONDS);

    assertThat(r.outcome()).as("%s", r).isEqualTo(MigrationResult.Outcome.CANCELLED);
    assertGuestRunsOnSourceOnly(g);
  }

  private void assertGuestRunsOnSourceOnly(ItStack.Guest g) throws InterruptedException {
    assertThat(source.vm(g.name).state()).isEqualTo(VmState.RUNNING);
    assertThat(destination.vms()).extracting(Vm::name).doesNotContain(g.name);
    long lastNow = last(ItStack.Guest.heartbeats(g.sourceLog));
    long gen = maxGen(g.sourceLog);
    g.awaitHeartbeatAfter(g.sourceLog, lastNow, 2, Duration.ofSeconds(20));
    awaitFullPassAfter(g, g.sourceLog, gen, Duration.ofSeconds(40));
    assertThat(ItStack.Guest.corruption(g.sourceLog)).isEmpty();
    assertThat(ItStack.Guest.heartbeats(g.destinationLog)).as("nothing ran on the destination").isEmpty();
  }

  @Test
  void migrate_toSameHost_isRefusedBeforeAnythingMoves() throws Exception {
    ItStack.Guest g = guest(8, 0);
    Vm vm = source.vm(g.name);
    MigrationResult r = source.migrate(vm, source.target(), MigrationOptions.defaults()).completion()
        .get(60, TimeUnit.SECONDS);
    assertThat(r.outcome()).as("%s", r).isEqualTo(MigrationResult.Outcome.FAILED);
    assertThat(r.cause()).containsInstanceOf(DestinationRefusedException.class);
    assertThat(r.cause().orElseThrow().getMessage()).contains("same libvirt host");
    assertThat(r.bytesOnWire()).isZero();
    assertThat(source.vm(g.name).state()).isEqualTo(VmState.RUNNING);
    long lastNow = last(ItStack.Guest.heartbeats(g.sourceLog));
    g.awaitHeartbeatAfter(g.sourceLog, lastNow, 1, Duration.ofSeconds(10));
  }

  @Test
  void migrate_unreachableDestination_isRefusedBeforeAnythingMoves() throws Exception {
    ItStack.Guest g = guest(8, 0);
    Vm vm = source.vm(g.name);
    URI nowhere = URI.create("qemu+unix:///system?socket=/nonexistent/ferry-it/libvirt-sock");
    MigrationResult r = source.migrate(vm, source.target().withHostUri(nowhere), MigrationOptions.defaults())
        .completion().get(60, TimeUnit.SECONDS);
    assertThat(r.outcome()).as("%s", r).isEqualTo(MigrationResult.Outcome.FAILED);
    assertThat(r.cause()).containsInstanceOf(DestinationRefusedException.class);
    assertThat(r.cause().orElseThrow().getMessage()).contains("destination unreachable");
    assertThat(source.vm(g.name).state()).isEqualTo(VmState.RUNNING);
  }

  @Test
  void migrate_whileTheSameVmIsBeingMigrated_secondIsRefused_firstCompletes() throws Exception {
    ItStack.Guest g = guest(16, 2);
    Vm vm = source.vm(g.name);
    MigrationSession first = source.migrate(vm, destination.target(), untilDeadline(Bandwidth.mibps(8)).build());
    assertThatThrownBy(() -> source.migrate(vm, destination.target(), MigrationOptions.defaults()))
        .isInstanceOf(MigrationRefusedException.class).hasMessageContaining("is being migrated already");
    MigrationResult r = first.completion().get(150, TimeUnit.SECONDS);
    assertThat(r.outcome()).as("%s", r).isEqualTo(MigrationResult.Outcome.COMPLETED);
    assertThat(destination.vm(g.name).state()).isEqualTo(VmState.RUNNING);
  }

  @Test
  void migrate_peerToPeer_completesAndHeartbeatContinuesOnDestination() throws Exception {
    ItStack.Guest g = guest(16, 2);
    Vm vm = source.vm(g.name);
    MigrationResult r = source.migrate(vm, destination.target(), untilDeadline(Bandwidth.mibps(16))
        .backendOptions(LibvirtMigrationOptions.builder().peerToPeer(true).build())
        .build()).completion().get(150, TimeUnit.SECONDS);
    long genAtEnd = maxGen(g.sourceLog);

    assertThat(r.outcome()).as("%s", r).isEqualTo(MigrationResult.Outcome.COMPLETED);
    assertThat(r.downtime().orElseThrow()).as("downtime from libvirt").isPositive();
    assertThat(destination.vm(g.name).state()).isEqualTo(VmState.RUNNING);
    assertThat(source.vms()).extracting(Vm::name).doesNotContain(g.name);
    long lastOnSource = last(ItStack.Guest.heartbeats(g.sourceLog));
    g.awaitHeartbeatAfter(g.destinationLog, lastOnSource, 2, Duration.ofSeconds(30));
    awaitFullPassAfter(g, g.destinationLog, genAtEnd, Duration.ofSeconds(30));
    assertThat(ItStack.Guest.corruption(g.destinationLog)).isEmpty();
  }

  @Test
  void migrate_migrateUriAndListenAddress_destinationQemuReceivesOnThatPort() throws Exception {
    ItStack.Guest g = guest(16, 1);
    Vm vm = source.vm(g.name);
    // the destination daemon's ports are 49200-49217 (it/libvirt.sh); pick one libvirt would not pick first
    int port = 49211;
    MigrationSession s = source.migrate(vm, destination.target(), untilDeadline(Bandwidth.mibps(4))
        .backendOptions(LibvirtMigrationOptions.builder().migrateUri("tcp://127.0.0.1:" + port)
            .listenAddress("127.0.0.1").build())
        .build());
    boolean seen = false;
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (!seen && !s.completion().isDone() && System.nanoTime() < deadline) {
      long pid = ItStack.incomingQemuPid(g.name);
      seen = pid > 0 && ItStack.hasLocalTcpPort(pid, port);
      Thread.sleep(50);
    }
    MigrationResult r = s.completion().get(150, TimeUnit.SECONDS);
    assertThat(seen).as("the destination's QEMU had a socket on port %d during the job", port).isTrue();
    assertThat(r.outcome()).as("%s", r).isEqualTo(MigrationResult.Outcome.COMPLETED);
    long lastOnSource = last(ItStack.Guest.heartbeats(g.sourceLog));
    g.awaitHeartbeatAfter(g.destinationLog, lastOnSource, 2, Duration.ofSeconds(30));
  }

  @Test
  void migrate_persistDestinationAndUndefineSource_definedOnDestinationOnly() throws Exception {
    String name = migrateDefinedGuest(LibvirtMigrationOptions.builder().persistDestination(true).undefineSource(true)
        .build());
    assertThat(ItStack.defined(stack.dst, name)).as("defined on the destination").isTrue();
    assertThat(ItStack.defined(stack.src, name)).as("no longer defined on the source").isFalse();
  }

  @Test
  void migrate_keepSourceDefinition_persistentDomainStaysDefinedOnSource() throws Exception {
    String name = migrateDefinedGuest(LibvirtMigrationOptions.builder().persistDestination(false)
        .undefineSource(false).build());
    assertThat(ItStack.defined(stack.src, name)).as("still defined (shut off) on the source").isTrue();
    assertThat(ItStack.defined(stack.dst, name)).as("transient on the destination").isFalse();
  }

  /** Defines and starts a guest on the source, migrates it with {@code o}, checks it runs on the destination. */
  private String migrateDefinedGuest(LibvirtMigrationOptions o) throws Exception {
    String name = "ferry-it-" + ProcessHandle.current().pid() + "-" + SEQ.incrementAndGet();
    guests.add(name);
    ItStack.Guest g = stack.startDefinedGuest(name, 16, 2);
    g.awaitHeartbeats(g.sourceLog, 2, BOOT);
    assertThat(ItStack.defined(stack.src, name)).as("defined on the source before").isTrue();
    MigrationResult r = source.migrate(source.vm(name), destination.target(), untilDeadline(Bandwidth.UNLIMITED)
        .backendOptions(o)
        .build()).completion().get(150, TimeUnit.SECONDS);
    assertThat(r.outcome()).as("%s", r).isEqualTo(MigrationResult.Outcome.COMPLETED);
    assertThat(destination.vm(name).state()).isEqualTo(VmState.RUNNING);
    return name;
  }

  @Test
  void vm_unknownDomain_throwsVmNotFoundListingTheDomains() {
    assertThatThrownBy(() -> source.vm("ferry-it-no-such-domain"))
        .isInstanceOf(VmNotFoundException.class)
        .hasMessageContaining("ferry-it-no-such-domain");
  }

  @Test
  void connect_unreachableHost_throwsHostException() {
    assertThatThrownBy(() -> Ferry.connect("qemu+unix:///system?socket=/nonexistent/ferry-it/libvirt-sock"))
        .isInstanceOf(HostException.class)
        .hasMessageContaining("cannot connect to libvirt");
  }
}
