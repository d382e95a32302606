package dev.ferry.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.ConvergenceException;
import dev.ferry.DestinationRefusedException;
import dev.ferry.MigrationCancelledException;
import dev.ferry.MigrationEvent;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationReceiver;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.MigrationSession;
import dev.ferry.MigrationTarget;
import dev.ferry.Phase;
import dev.ferry.RoundStats;
import dev.ferry.TransportException;
import dev.ferry.sim.FaultyLink;
import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimVm;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.CpuInfo;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.VmState;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Migrations between two simulated hosts over real TCP on 127.0.0.1, with the guest writing all the
 * time. After each one, the invariants: a completed migration leaves identical memory and device
 * state on the destination (observed at the source's pause and the destination's activation) and a
 * stopped source; any other outcome leaves the source running and the destination empty.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class EngineEndToEndTest {
  private static final AtomicInteger SEQ = new AtomicInteger();

  private SimPair pair;
  private SimHost source;
  private SimHost dest;
  private ObservedHost observedDest;
  private MigrationReceiver receiver;

  @BeforeEach
  void hosts() {
    pair = new SimPair("e2e", h -> observedDest = new ObservedHost(h.driver()));
    source = pair.source;
    dest = pair.dest;
    receiver = pair.receiver;
  }

  @AfterEach
  void cleanUp() {
    pair.close();
  }

  private SimVm vm(String name, DataSize memory, Workload workload) {
    return source.createVm(SimVmSpec.builder(name).memory(memory).vcpus(2).workload(workload).seed(42).build());
  }

  /** Fills every page with random bytes, so that pages cost their full size on the wire. */
  private static SimVm filled(SimVm vm) {
    vm.fillRandom(7);
    return vm;
  }

  private MigrationResult run(ObservedVm vm, MigrationTarget target, MigrationOptions options,
      List<MigrationEvent> events) throws Exception {
    MigrationOptions o = events == null ? options : options.toBuilder().listener(events::add).build();
    MigrationSession s = SourceMigration.start(source.info(), vm, target, o);
    return s.completion().get(50, TimeUnit.SECONDS);
  }

  private void assertCompleted(MigrationResult r, ObservedVm vm, Duration limit) throws Exception {
    assertThat(r.outcome()).as("outcome (cause %s)", r.cause()).isEqualTo(Outcome.COMPLETED);
    assertThat(observedDest.digestAtActivate).as("destination memory at activation")
        .isNotNull().isEqualTo(vm.digestAtPause);
    assertThat(observedDest.deviceStateLoaded).as("device state").isEqualTo(vm.deviceStateAtPause);
    assertThat(vm.state()).isEqualTo(VmState.STOPPED);
    assertThat(source.vm(vm.description().name())).isEmpty();
    SimVm moved = dest.vm(vm.description().name()).orElseThrow();
    assertThat(moved.state()).isEqualTo(VmState.RUNNING);
    if (moved.workload().kind() != Workload.Kind.IDLE) {
      long before = moved.writesDone();
      Thread.sleep(200);
      assertThat(moved.writesDone()).as("the workload keeps writing on the destination").isGreaterThan(before);
    }
    assertThat(r.downtime().orElseThrow()).isLessThanOrEqualTo(limit).isPositive();
    assertThat(r.rounds()).isNotEmpty();
    assertThat(r.bytesOnWire()).isPositive();
  }

  private void assertRolledBack(MigrationResult r, SimVm vm) throws Exception {
    assertThat(vm.state()).as("source after %s", r.outcome()).isEqualTo(VmState.RUNNING);
    if (vm.workload().kind() != Workload.Kind.IDLE) {
      long before = vm.writesDone();
      Thread.sleep(150);
      assertThat(vm.writesDone()).as("the source guest runs again").isGreaterThan(before);
    }
    assertThat(vm.log().isActive()).as("dirty log stopped").isFalse();
    pair.assertDestinationEmpty();
  }

  @Test
  void migrate_busyVmWithVerification_completesWithIdenticalMemory() throws Exception {
    SimVm sim = vm("web-1", DataSize.mib(64), Workload.uniform(3000));
    ObservedVm vm = new ObservedVm(sim);
    List<MigrationEvent> events = new CopyOnWriteArrayList<>();
    MigrationResult r = run(vm, receiver.target(), MigrationOptions.builder()
        .maxDowntime(Duration.ofMillis(300)).verify(true).build(), events);
    assertCompleted(r, vm, Duration.ofMillis(300));
    assertThat(r.verified()).isTrue();
    // Registered through the options, the listener sees every event from the first on.
    assertThat(events.get(0)).isInstanceOfSatisfying(MigrationEvent.PhaseChanged.class, p -> {
      assertThat(p.from()).isEqualTo(Phase.SETUP);
      assertThat(p.to()).isEqualTo(Phase.PRE_COPY);
    });
    assertThat(events.get(events.size() - 1)).isInstanceOf(MigrationEvent.Finished.class);
    assertThat(events.stream().filter(e -> e instanceof MigrationEvent.RoundCompleted).count())
        .isEqualTo(r.rounds().size());
  }

  @Test
  void migrate_threeStreams_completesWithIdenticalMemory() throws Exception {
    SimVm sim = vm("multi", DataSize.mib(64), Workload.hotSet(5000));
    ObservedVm vm = new ObservedVm(sim);
    MigrationResult r = run(vm, receiver.target(), MigrationOptions.builder().streams(3).verify(true).build(), null);
    assertCompleted(r, vm, Duration.ofMillis(300));
  }

  @Test
  void migrate_lz4Compression_completesWithIdenticalMemory() throws Exception {
    SimVm sim = vm("lz4", DataSize.mib(32), Workload.uniform(2000));
    ObservedVm vm = new ObservedVm(sim);
    MigrationResult r = run(vm, receiver.target(), MigrationOptions.builder()
        .compression(dev.ferry.Compression.LZ4).verify(true).build(), null);
    assertCompleted(r, vm, Duration.ofMillis(300));
  }

  @Test
  void migrate_quick_pausesFirstAndReportsTheLongDowntime() throws Exception {
    SimVm sim = vm("quick", DataSize.mib(32), Workload.uniform(2000));
    ObservedVm vm = new ObservedVm(sim);
    List<MigrationEvent> events = new CopyOnWriteArrayList<>();
    MigrationResult r = run(vm, receiver.target(), MigrationOptions.builder().quick(true).build(), events);
    assertCompleted(r, vm, Duration.ofSeconds(30));
    assertThat(r.rounds()).hasSize(1);
    assertThat(r.rounds().get(0).stopAndCopy()).isTrue();
    assertThat(r.rounds().get(0).pagesSent()).isEqualTo(DataSize.mib(32).pages(4096));
    assertThat(events).noneMatch(e -> e instanceof MigrationEvent.PhaseChanged p && p.to() == Phase.PRE_COPY);
  }

  @Test
  void cancel_inRoundZero_sourceKeepsRunningAndDestinationIsEmpty() throws Exception {
    SimVm sim = filled(vm("cancel0", DataSize.mib(64), Workload.uniform(2000)));
    ObservedVm vm = new ObservedVm(sim);
    List<MigrationEvent> events = new CopyOnWriteArrayList<>();
    // 64 MiB at 20 MB/s: round 0 takes over three seconds; progress is published during it.
    MigrationSession s = SourceMigration.start(source.info(), vm, receiver.target(),
        MigrationOptions.builder().bandwidthLimit(Bandwidth.mbps(20)).listener(events::add).build());
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (s.progress().transferred().bytes() < DataSize.mib(4).bytes() && !s.completion().isDone()
        && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(s.phase()).isEqualTo(Phase.PRE_COPY);
    assertThat(s.progress().round()).as("the round under way").isZero();
    assertThat(events).as("round 0 has not ended").noneMatch(MigrationEvent.RoundCompleted.class::isInstance);
    assertThat(s.cancel()).isTrue();
    MigrationResult r = s.completion().get(20, TimeUnit.SECONDS);
    assertThat(r.outcome()).isEqualTo(Outcome.CANCELLED);
    assertThat(r.cause()).containsInstanceOf(MigrationCancelledException.class);
    assertThat(r.cause().orElseThrow().getMessage()).contains("cancelled in PRE_COPY after 0 round(s)");
    assertThat(r.rounds()).as("cancelled before round 0 ended").isEmpty();
    assertThat(r.bytesOnWire()).isBetween(DataSize.mib(4).bytes(), DataSize.mib(60).bytes());
    assertThat(vm.pauses).isZero();
    assertRolledBack(r, sim);
  }

  @Test
  void cancel_inLaterRound_sourceKeepsRunningAndDestinationIsEmpty() throws Exception {
    SimVm sim = vm("cancel-late", DataSize.mib(16), Workload.uniform(Workload.MAX_RATE));
    ObservedVm vm = new ObservedVm(sim);
    MigrationSession s = SourceMigration.start(source.info(), vm, receiver.target(),
        MigrationOptions.builder().maxDowntime(Duration.ofNanos(1)).build());
    s.addListener(e -> {
      if (e instanceof MigrationEvent.RoundCompleted rc && rc.stats().round() == 2) {
        s.cancel();
      }
    });
    MigrationResult r = s.completion().get(30, TimeUnit.SECONDS);
    assertThat(r.outcome()).isEqualTo(Outcome.CANCELLED);
    assertThat(r.rounds()).hasSizeGreaterThanOrEqualTo(3);
    assertRolledBack(r, sim);
  }

  @Test
  void cancel_duringStopAndCopy_sourceResumesAndDestinationIsEmpty() throws Exception {
    SimVm sim = vm("cancel-sc", DataSize.mib(32), Workload.uniform(2000));
    ObservedVm vm = new ObservedVm(sim);
    MigrationSession s = SourceMigration.start(source.info(), vm, receiver.target(),
        MigrationOptions.builder().verify(true).build());
    s.addListener(e -> {
      if (e instanceof MigrationEvent.PhaseChanged p && p.to() == Phase.STOP_AND_COPY) {
        assertThat(s.cancel()).isTrue();
      }
    });
    MigrationResult r = s.completion().get(30, TimeUnit.SECONDS);
    assertThat(r.outcome()).isEqualTo(Outcome.CANCELLED);
    assertThat(vm.pauses).isEqualTo(1);
    assertThat(vm.resumes).isEqualTo(1);
    assertRolledBack(r, sim);
  }

  @Test
  void linkCutMidRound_failsAndRollsBack() throws Exception {
    SimVm sim = filled(vm("cut", DataSize.mib(64), Workload.uniform(2000)));
    ObservedVm vm = new ObservedVm(sim);
    try (FaultyLink proxy = FaultyLink.to(receiver.address())) {
      proxy.cutAfter(DataSize.mib(8).bytes());
      MigrationResult r = run(vm, new MigrationTarget(proxy.address(), ""),
          MigrationOptions.builder().bandwidthLimit(Bandwidth.mbps(200)).build(), null);
      assertThat(r.outcome()).isEqualTo(Outcome.FAILED);
      assertThat(r.cause()).containsInstanceOf(TransportException.class);
      assertRolledBack(r, sim);
    }
  }

  @Test
  void destinationWithIncompatibleCpu_refusesBeforeAnyPageMoves() throws Exception {
    SimHost other = SimHost.named("e2e-oldcpu-" + SEQ.incrementAndGet(), DataSize.gib(64),
        new CpuInfo("sim-x86", Set.of("sse2")));
    try (MigrationReceiver r2 = Receiver.start(other.driver(),
        new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), "")) {
      SimVm sim = vm("needs-avx", DataSize.mib(16), Workload.uniform(1000));
      MigrationResult r = run(new ObservedVm(sim), r2.target(), MigrationOptions.defaults(), null);
      assertThat(r.outcome()).isEqualTo(Outcome.FAILED);
      assertThat(r.cause()).containsInstanceOf(DestinationRefusedException.class);
      assertThat(r.cause().orElseThrow().getMessage()).contains("avx");
      assertThat(r.pagesSent()).isZero();
      assertThat(other.vms()).isEmpty();
      assertThat(other.incomingVms()).isEmpty();
      assertRolledBack(r, sim);
    } finally {
      other.destroy();
    }
  }

  @Test
  void destinationShortOfMemory_refusesBeforeAnyPageMovesNamingBothFigures() throws Exception {
    SimVm sim = filled(vm("too-big", DataSize.mib(256), Workload.uniform(1000)));
    dest.faults().machineMemoryAvailable(DataSize.mib(640)); // 128 MiB to give after the reserve
    try {
      MigrationResult r = run(new ObservedVm(sim), receiver.target(), MigrationOptions.defaults(), null);
      assertThat(r.outcome()).isEqualTo(Outcome.FAILED);
      assertThat(r.cause()).containsInstanceOf(DestinationRefusedException.class);
      assertThat(r.cause().orElseThrow().getMessage())
          .contains("would receive 256 MiB of written memory")
          .contains("this machine can give 128 MiB now");
      assertThat(r.pagesSent()).isZero();
      assertThat(r.bytesOnWire()).as("nothing but the handshake").isLessThan(64 * 1024);
      assertRolledBack(r, sim);
    } finally {
      dest.faults().clear();
    }
  }

  @Test
  void wrongToken_isRefused() throws Exception {
    try (MigrationReceiver guarded = Receiver.start(dest.driver(),
        new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), "s3cret")) {
      SimVm sim = vm("tok", DataSize.mib(16), Workload.idle());
      MigrationResult r = run(new ObservedVm(sim), guarded.target().withToken("guess"),
          MigrationOptions.defaults(), null);
      assertThat(r.outcome()).isEqualTo(Outcome.FAILED);
      assertThat(r.cause()).containsInstanceOf(DestinationRefusedException.class);
      assertThat(r.cause().orElseThrow().getMessage()).contains("UNAUTHORIZED");
      assertRolledBack(r, sim);
      MigrationResult ok = run(new ObservedVm(sim), guarded.target(), MigrationOptions.defaults(), null);
      assertThat(ok.outcome()).isEqualTo(Outcome.COMPLETED);
    }
  }

  @Test
  void noReceiver_failsWithConnectionRefused() throws Exception {
    SimVm sim = vm("nobody", DataSize.mib(16), Workload.uniform(1000));
    int port;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    MigrationResult r = run(new ObservedVm(sim), MigrationTarget.of("127.0.0.1", port),
        MigrationOptions.defaults(), null);
    assertThat(r.outcome()).isEqualTo(Outcome.FAILED);
    assertThat(r.cause()).containsInstanceOf(TransportException.class);
    assertRolledBack(r, sim);
  }

  @Test
  void bandwidthLimit_isHonouredOverTheWholeMigration() throws Exception {
    SimVm sim = filled(vm("capped", DataSize.mib(24), Workload.idle()));
    Bandwidth cap = Bandwidth.mbps(50);
    MigrationResult r;
    List<Long> perTick = new java.util.ArrayList<>();
    try (FaultyLink proxy = FaultyLink.to(receiver.address())) {
      MigrationSession s = SourceMigration.start(source.info(), new ObservedVm(sim),
          new MigrationTarget(proxy.address(), ""), MigrationOptions.builder().bandwidthLimit(cap).build());
      long last = 0;
      while (!s.completion().isDone()) {
        Thread.sleep(100);
        long now = proxy.forwarded();
        perTick.add(now - last);
        last = now;
      }
      r = s.completion().get();
    }
    assertThat(r.outcome()).isEqualTo(Outcome.COMPLETED);
    // Smooth, not burst-then-sleep: no 100 ms window carries much more than 100 ms of the cap.
    long perWindow = cap.bytesPerSecond() / 10;
    assertThat(perTick).as("bytes per 100 ms").allSatisfy(b -> assertThat(b).isLessThanOrEqualTo(perWindow * 3 / 2));
    RoundStats round0 = r.rounds().get(0);
    // 24 MiB at 50 MB/s is 0.5 s: a limiter that let the round burst would finish far sooner.
    assertThat(round0.bandwidth().bytesPerSecond()).as("round 0 rate").isLessThanOrEqualTo(cap.bytesPerSecond() * 11 / 10);
    assertThat(round0.duration()).isGreaterThanOrEqualTo(Duration.ofMillis(450));
  }

  @Test
  void threeMigrationsFromOneHost_atMostTwoRunAtOnce() throws Exception {
    AtomicInteger running = new AtomicInteger();
    AtomicInteger most = new AtomicInteger();
    List<MigrationSession> sessions = new java.util.ArrayList<>();
    for (int i = 0; i < 3; i++) {
      SimVm sim = filled(vm("par-" + i, DataSize.mib(8), Workload.idle()));
      MigrationSession s = SourceMigration.start(source.info(), new ObservedVm(sim), receiver.target(),
          MigrationOptions.builder().bandwidthLimit(Bandwidth.mbps(40)).build());
      s.addListener(e -> {
        if (e instanceof MigrationEvent.PhaseChanged p && p.to() == Phase.PRE_COPY) {
          most.accumulateAndGet(running.incrementAndGet(), Math::max);
        } else if (e instanceof MigrationEvent.PhaseChanged p && p.to() == Phase.ENDED) {
          running.decrementAndGet();
        }
      });
      sessions.add(s);
    }
    for (MigrationSession s : sessions) {
      assertThat(s.completion().get(30, TimeUnit.SECONDS).outcome()).isEqualTo(Outcome.COMPLETED);
    }
    assertThat(most.get()).as("migrations copying at the same time").isEqualTo(2);
  }

  @Test
  void deadlinePassesWithoutConvergence_rollsBack() throws Exception {
    SimVm sim = vm("hot", DataSize.mib(16), Workload.uniform(Workload.MAX_RATE));
    MigrationResult r = run(new ObservedVm(sim), receiver.target(), MigrationOptions.builder()
        .maxDowntime(Duration.ofNanos(1)).deadline(Duration.ofSeconds(1)).build(), null);
    assertThat(r.outcome()).isEqualTo(Outcome.ROLLED_BACK);
    assertThat(r.cause()).containsInstanceOf(ConvergenceException.class);
    // The policy aborts at the last round boundary before the deadline (loose: rounds run late on a busy machine).
    assertThat(r.totalTime()).isLessThan(Duration.ofSeconds(3));
    assertThat(r.actions()).anyMatch(a -> a.startsWith("abort"));
    assertRolledBack(r, sim);
  }
}
