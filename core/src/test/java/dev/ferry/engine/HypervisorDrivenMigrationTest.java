package dev.ferry.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.MigrationEvent;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationRefusedException;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.MigrationSession;
import dev.ferry.MigrationTarget;
import dev.ferry.Phase;
import dev.ferry.policy.ConvergencePolicy;
import dev.ferry.policy.Decision;
import dev.ferry.policy.PolicyAction;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.CpuInfo;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.DriverException;
import dev.ferry.spi.HostId;
import dev.ferry.spi.HostInfo;
import dev.ferry.spi.HypervisorMigration;
import dev.ferry.spi.HypervisorMigration.JobState;
import dev.ferry.spi.HypervisorMigration.Result;
import dev.ferry.spi.HypervisorMigration.Stats;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmDriver;
import dev.ferry.spi.VmId;
import dev.ferry.spi.VmState;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The hypervisor-driven plane on a scripted job: the samples a hypervisor would report, in order,
 * and how the job ends. Real libvirt runs in libvirt-adapter's integration tests.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class HypervisorDrivenMigrationTest {
  private static final int PAGE = 4096;
  private static final DataSize MEM = DataSize.mib(64);
  private static final HostInfo HOST = new HostInfo(new HostId("h1"), "h1", new CpuInfo("m", Set.of()), DataSize.gib(1));
  private static final MigrationTarget TARGET =
      new MigrationTarget(new InetSocketAddress("127.0.0.1", 1), "").withHostUri(URI.create("qemu+unix:///system"));

  /** A sample in pre-copy. */
  private static Stats s(long iteration, long processedMib, long remainingMib, long expectedMs, long elapsedMs) {
    long pages = (processedMib << 20) / PAGE;
    return new Stats(JobState.PRE_COPY, iteration, MEM, DataSize.mib(processedMib), DataSize.mib(remainingMib),
        pages, 0, (processedMib << 20) + 1000, 2500, PAGE, Bandwidth.mibps(32), Duration.ofMillis(expectedMs),
        Duration.ZERO, 0, Duration.ofMillis(elapsedMs));
  }

  private static Stats completed(long iteration, long processedMib, long downtimeMs, long elapsedMs) {
    long pages = (processedMib << 20) / PAGE;
    return new Stats(JobState.ENDED, iteration, MEM, DataSize.mib(processedMib), DataSize.ZERO, pages, 10,
        (processedMib << 20) + 5000, 0, PAGE, Bandwidth.mibps(32), Duration.ZERO, Duration.ofMillis(downtimeMs), 0,
        Duration.ofMillis(elapsedMs));
  }

  /** A job that reports its script one sample per call, then ends with {@code end} (or as aborted). */
  static final class ScriptedJob implements HypervisorMigration.Job {
    final List<Stats> script;
    final Result end;
    int next;
    volatile Result result;
    final List<String> calls = new CopyOnWriteArrayList<>();
    boolean holdAtEnd;
    /** Runs once, on the sampling thread, just before the job ends with {@link #end}. */
    volatile Runnable beforeEnd = () -> {};
    /** Closed by {@link #holdUntilGo()}: no sample is handed out before {@link #go()}. */
    volatile java.util.concurrent.CountDownLatch gate = new java.util.concurrent.CountDownLatch(0);

    void holdUntilGo() {
      gate = new java.util.concurrent.CountDownLatch(1);
    }

    void go() {
      gate.countDown();
    }

    ScriptedJob(List<Stats> script, Result end) {
      this.script = new ArrayList<>(script);
      this.end = end;
    }

    @Override
    public synchronized Stats stats() {
      try {
        gate.await(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      if (next < script.size()) {
        return script.get(next++);
      }
      if (!holdAtEnd && result == null) {
        beforeEnd.run();
        result = end;
      }
      return script.get(script.size() - 1);
    }

    @Override
    public void setMaxDowntime(Duration downtime) {
      calls.add("downtime " + downtime.toMillis());
    }

    @Override
    public void setBandwidth(Bandwidth bandwidth) {
      calls.add("bandwidth " + bandwidth);
    }

    @Override
    public void startPostCopy() {
      calls.add("post-copy");
    }

    @Override
    public void forceCompletion() {
      calls.add("force");
    }

    @Override
    public void abort() {
      calls.add("abort");
      if (result == null) {
        Stats last = script.get(Math.max(0, Math.min(next, script.size()) - 1));
        result = new Result(Result.Outcome.ABORTED, "operation aborted: migration out job: canceled by client",
            last.withState(JobState.ENDED));
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
      if (result == null) {
        Thread.sleep(Math.min(2, timeout.toMillis()));
      }
      return Optional.ofNullable(result);
    }
  }

  static final class FakeVm implements VmDriver {
    final HypervisorMigration facet;
    final HypervisorMigration.Job job;
    final String id;
    volatile HypervisorMigration.Request request;
    /** Counted down when the facet was asked to start the job. */
    final java.util.concurrent.CountDownLatch asked = new java.util.concurrent.CountDownLatch(1);

    FakeVm(HypervisorMigration.Job job) {
      this("u-1", job);
    }

    FakeVm(String id, HypervisorMigration.Job job) {
      this.id = id;
      this.job = job;
      this.facet = r -> {
        request = r;
        asked.countDown();
        return job;
      };
    }

    FakeVm(DriverException refusal) {
      this.id = "u-1";
      this.job = null;
      this.facet = r -> {
        asked.countDown();
        throw refusal;
      };
    }

    FakeVm(String id, HypervisorMigration facet) {
      this.id = id;
      this.job = null;
      this.facet = facet;
    }

    /** The request the facet got; waits (at most 10 s) for the session's thread to ask for the job. */
    HypervisorMigration.Request awaitRequest() throws InterruptedException {
      assertThat(asked.await(10, TimeUnit.SECONDS)).as("the job was started").isTrue();
      return request;
    }

    @Override
    public VmDescription description() {
      return new VmDescription(new VmId(id), "dom-" + id, MEM, PAGE, 1, new CpuInfo("m", Set.of()));
    }

    @Override
    public VmState state() {
      return VmState.RUNNING;
    }

    @Override
    public void pause() {}

    @Override
    public void resume() {}

    @Override
    public void stop() {}

    @Override
    public Optional<HypervisorMigration> hypervisorMigration() {
      return Optional.of(facet);
    }
  }

  /**
   * A hypervisor that takes its time to accept a job (libvirt: until QEMU moves memory): start
   * blocks until {@link #accept} is counted down (at most 10 s).
   */
  static final class SlowStart implements HypervisorMigration {
    final java.util.concurrent.CountDownLatch inStart = new java.util.concurrent.CountDownLatch(1);
    final java.util.concurrent.CountDownLatch accept = new java.util.concurrent.CountDownLatch(1);
    final List<String> startedOn = new CopyOnWriteArrayList<>();
    final Job job;

    SlowStart(Job job) {
      this.job = job;
    }

    @Override
    public Job start(Request request) {
      startedOn.add(Thread.currentThread().getName());
      inStart.countDown();
      try {
        accept.await(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return job;
    }
  }

  private static MigrationOptions.Builder opts() {
    return MigrationOptions.builder().maxDowntime(Duration.ofMillis(300)).deadline(Duration.ofMinutes(1))
        .policy(ConvergencePolicy.untilDeadline());
  }

  private static MigrationSession start(FakeVm vm, MigrationOptions o) {
    return HypervisorDrivenMigration.start(HOST, vm, TARGET, o, Duration.ofMillis(1));
  }

  /** Starts, listens, and only then lets the job hand out samples, so that no event is missed. */
  private static MigrationResult run(FakeVm vm, MigrationOptions o, List<MigrationEvent> events) throws Exception {
    ScriptedJob scripted = vm.job instanceof ScriptedJob sj ? sj : null;
    if (scripted != null) {
      scripted.holdUntilGo();
    }
    MigrationSession s = start(vm, o);
    s.addListener(events::add);
    if (scripted != null) {
      scripted.go();
    }
    return s.completion().get(20, TimeUnit.SECONDS);
  }

  @Test
  void start_targetWithoutHostUri_isRefused() {
    FakeVm vm = new FakeVm(new ScriptedJob(List.of(s(1, 1, 63, 0, 10)), null));
    assertThatThrownBy(() -> HypervisorDrivenMigration.start(HOST, vm,
        new MigrationTarget(new InetSocketAddress("127.0.0.1", 1), ""), opts().build()))
        .isInstanceOf(MigrationRefusedException.class).hasMessageContaining("host's URI");
  }

  @Test
  void start_hypervisorRefuses_endsFailedWithDestinationRefusedAndItsMessage() throws Exception {
    FakeVm vm = new FakeVm(new DriverException("Attempt to migrate guest to the same host 8f0e"));
    MigrationResult r = start(vm, opts().build()).completion().get(10, TimeUnit.SECONDS);
    assertThat(r.outcome()).isEqualTo(Outcome.FAILED);
    assertThat(r.cause()).containsInstanceOf(dev.ferry.DestinationRefusedException.class);
    assertThat(r.cause().orElseThrow().getMessage()).contains("same host 8f0e");
  }

  @Test
  void start_returnsAtOnce_theJobStartsOnTheSessionsThread() throws Exception {
    SlowStart slow = new SlowStart(new ScriptedJob(List.of(s(1, 10, 54, 2000, 300), s(2, 64, 2, 50, 2000)),
        new Result(Result.Outcome.COMPLETED, "", completed(2, 66, 20, 2100))));
    MigrationSession s = start(new FakeVm("u-blocking", slow), opts().build());
    String caller = Thread.currentThread().getName();
    assertThat(slow.inStart.await(10, TimeUnit.SECONDS)).as("the job is being started").isTrue();
    assertThat(s.phase()).as("returned while the hypervisor has not accepted the job yet").isEqualTo(Phase.SETUP);
    assertThat(s.completion()).isNotDone();
    slow.accept.countDown();
    MigrationResult r = s.completion().get(10, TimeUnit.SECONDS);
    assertThat(r.outcome()).isEqualTo(Outcome.COMPLETED);
    assertThat(slow.startedOn).singleElement().isNotEqualTo(caller).asString().startsWith("ferry-hv-migrate-");
  }

  @Test
  void start_sameVmWhileItsMigrationRuns_isRefused() throws Exception {
    ScriptedJob first = new ScriptedJob(List.of(s(1, 1, 63, 0, 10)), null);
    first.holdAtEnd = true;
    FakeVm vm = new FakeVm("u-twice", first);
    MigrationSession s = start(vm, opts().build());
    vm.awaitRequest();
    FakeVm again = new FakeVm("u-twice", new ScriptedJob(List.of(s(1, 1, 63, 0, 10)), null));
    assertThatThrownBy(() -> start(again, opts().build()))
        .isInstanceOf(MigrationRefusedException.class).hasMessageContaining("is being migrated already");
    assertThat(again.asked.getCount()).as("no second job asked of the hypervisor").isEqualTo(1);
    s.cancel();
    assertThat(s.completion().get(10, TimeUnit.SECONDS).outcome()).isEqualTo(Outcome.CANCELLED);
  }

  @Test
  void start_thirdMigrationLeavingOneHost_waitsInSetupForASlot_startsWhenOneEnds() throws Exception {
    HostInfo host = new HostInfo(new HostId("h-slots"), "h-slots", new CpuInfo("m", Set.of()), DataSize.gib(1));
    List<ScriptedJob> jobs = new ArrayList<>();
    List<FakeVm> vms = new ArrayList<>();
    List<MigrationSession> sessions = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      ScriptedJob j = new ScriptedJob(List.of(s(1, 1, 63, 0, 10)), null);
      j.holdAtEnd = true;
      jobs.add(j);
      vms.add(new FakeVm("u-slot-" + i, j));
    }
    for (int i = 0; i < 2; i++) {
      sessions.add(HypervisorDrivenMigration.start(host, vms.get(i), TARGET, opts().build(), Duration.ofMillis(1)));
      vms.get(i).awaitRequest();
    }
    sessions.add(HypervisorDrivenMigration.start(host, vms.get(2), TARGET, opts().build(), Duration.ofMillis(1)));
    // the two running jobs hold both slots: the third's job cannot have been asked for
    assertThat(vms.get(2).asked.await(300, TimeUnit.MILLISECONDS)).as("third job started with two running").isFalse();
    assertThat(sessions.get(2).phase()).isEqualTo(Phase.SETUP);

    jobs.get(0).result = new Result(Result.Outcome.COMPLETED, "", completed(1, 64, 10, 500));
    assertThat(sessions.get(0).completion().get(10, TimeUnit.SECONDS).outcome()).isEqualTo(Outcome.COMPLETED);
    vms.get(2).awaitRequest();
    for (int i = 1; i < 3; i++) {
      sessions.get(i).cancel();
      assertThat(sessions.get(i).completion().get(10, TimeUnit.SECONDS).outcome()).isEqualTo(Outcome.CANCELLED);
    }
  }

  @Test
  void shortMigration_bulkPassThenStopAndCopy_reportedAsRound0PreCopyThenRound1StopAndCopy() throws Exception {
    // sampled only during the bulk pass (iteration 1); the completed job counts 2 passes: the bulk
    // pass and the stop-and-copy
    ScriptedJob job = new ScriptedJob(List.of(s(1, 10, 54, 2000, 300), s(1, 40, 24, 900, 1000)),
        new Result(Result.Outcome.COMPLETED, "", completed(2, 66, 20, 1900)));
    List<MigrationEvent> events = new CopyOnWriteArrayList<>();
    MigrationResult r = run(new FakeVm(job), opts().build(), events);

    assertThat(r.outcome()).isEqualTo(Outcome.COMPLETED);
    assertThat(r.rounds()).extracting(rs -> rs.round()).containsExactly(0L, 1L);
    assertThat(r.rounds()).extracting(rs -> rs.stopAndCopy()).containsExactly(false, true);
    long mib = (1L << 20) / PAGE;
    // the bulk pass: what was sampled (40 MiB) and what QEMU still had to send of it then (24 MiB)
    assertThat(r.rounds().get(0).pagesSent()).isEqualTo(64 * mib);
    // the stop-and-copy: the rest of the completed job's pages, which the guest dirtied meanwhile
    assertThat(r.rounds().get(1).pagesSent()).isEqualTo(2 * mib + 10);
    assertThat(r.rounds().get(0).pagesDirtied()).isEqualTo(2 * mib + 10);
    assertThat(r.rounds().get(1).expectedDowntime()).isEqualTo(Duration.ofMillis(20));
    assertThat(r.rounds().get(1).duration()).as("at least the pause it holds").isGreaterThanOrEqualTo(
        Duration.ofMillis(20));
    assertThat(r.rounds()).allSatisfy(rs -> assertThat(rs.zeroPages()).isLessThanOrEqualTo(rs.pagesSent()));
    assertThat(r.rounds().get(0).zeroPages()).as("the zero pages sent after the last sample").isEqualTo(10);
    assertThat(r.rounds().stream().mapToLong(rs -> rs.pagesSent()).sum()).isEqualTo(r.pagesSent());
    assertThat(events).filteredOn(MigrationEvent.RoundCompleted.class::isInstance).hasSize(2);
  }

  @Test
  void pauseSampled_passBeforeItIsAPreCopyRound_thenPhaseStopAndCopy_thenItsOneRound_inTheDocumentedOrder()
      throws Exception {
    Stats paused = s(2, 65, 1, 100, 1300).withState(JobState.STOP_AND_COPY);
    ScriptedJob job = new ScriptedJob(List.of(s(1, 10, 54, 2000, 300), s(1, 40, 24, 900, 1000), paused,
        s(2, 66, 0, 100, 1400).withState(JobState.STOP_AND_COPY)),
        new Result(Result.Outcome.COMPLETED, "", completed(2, 66, 20, 1500)));
    List<MigrationEvent> events = new CopyOnWriteArrayList<>();
    // listening from the options: every event, the first PhaseChanged included
    MigrationResult r = start(new FakeVm(job), opts().listener(events::add).build()).completion()
        .get(20, TimeUnit.SECONDS);

    assertThat(r.outcome()).isEqualTo(Outcome.COMPLETED);
    assertThat(r.rounds()).extracting(rs -> rs.round()).containsExactly(0L, 1L);
    assertThat(r.rounds()).extracting(rs -> rs.stopAndCopy()).containsExactly(false, true);
    assertThat(r.rounds().get(0).pagesSent()).as("sampled 40 MiB and the 24 MiB left of the pass")
        .isEqualTo(64 * ((1L << 20) / PAGE));
    List<String> order = events.stream().filter(e -> !(e instanceof MigrationEvent.Decision)).map(e ->
        e instanceof MigrationEvent.PhaseChanged pc ? "phase " + pc.to()
            : e instanceof MigrationEvent.RoundCompleted rc ? "round " + rc.stats().round() + (rc.stats().stopAndCopy()
                ? " stop-and-copy" : "") : e.getClass().getSimpleName()).toList();
    assertThat(order).containsExactly("phase PRE_COPY", "round 0", "phase STOP_AND_COPY", "round 1 stop-and-copy",
        "phase ENDED", "Finished");
  }

  @Test
  void shortMigration_laterPassesUnsampled_bulkPassStillRound0_theRestOneLastRound() throws Exception {
    // sampled in the bulk pass only; the completed job counts 4 passes
    ScriptedJob job = new ScriptedJob(List.of(s(1, 10, 54, 2000, 300), s(1, 40, 24, 900, 1000)),
        new Result(Result.Outcome.COMPLETED, "", completed(4, 80, 20, 1900)));
    MigrationResult r = run(new FakeVm(job), opts().build(), new ArrayList<>());
    assertThat(r.rounds()).extracting(rs -> rs.round()).containsExactly(0L, 3L);
    assertThat(r.rounds()).extracting(rs -> rs.stopAndCopy()).containsExactly(false, true);
    long mib = (1L << 20) / PAGE;
    assertThat(r.rounds().get(0).pagesSent()).isEqualTo(64 * mib);
    assertThat(r.rounds().get(1).pagesSent()).as("passes 2 and 3 and the stop-and-copy").isEqualTo(16 * mib + 10);
    assertThat(r.rounds().get(0).pagesDirtied()).as("an upper bound: what the later passes sent")
        .isEqualTo(16 * mib + 10);
  }

  @Test
  void start_everySettingIsPassedToTheHypervisor() throws Exception {
    ScriptedJob job = new ScriptedJob(List.of(s(1, 1, 63, 0, 10)), null);
    job.holdAtEnd = true;
    FakeVm vm = new FakeVm(job);
    MigrationSession s = start(vm, opts().bandwidthLimit(Bandwidth.mibps(8)).allowPostCopy(true).build());
    vm.awaitRequest();
    assertThat(vm.request.destination()).isEqualTo(URI.create("qemu+unix:///system"));
    assertThat(vm.request.maxDowntime()).isEqualTo(Duration.ofMillis(300));
    assertThat(vm.request.bandwidth()).isEqualTo(Bandwidth.mibps(8));
    assertThat(vm.request.flags()).contains(HypervisorMigration.Flag.LIVE, HypervisorMigration.Flag.POST_COPY);
    assertThat(vm.request.destinationConfig()).as("none given: the source's").isEmpty();
    s.cancel();
    assertThat(s.completion().get(10, TimeUnit.SECONDS).outcome()).isEqualTo(Outcome.CANCELLED);
  }

  @Test
  void completedJob_reportsHypervisorsDowntimeTotalTimeBytesAndRounds() throws Exception {
    ScriptedJob job = new ScriptedJob(List.of(
        s(1, 10, 54, 2000, 300), s(1, 40, 24, 900, 1000), s(1, 64, 1, 400, 2000),
        s(2, 66, 6, 400, 2100), s(2, 70, 2, 200, 2200), s(3, 71, 1, 50, 2300)),
        new Result(Result.Outcome.COMPLETED, "", completed(3, 72, 23, 2400)));
    List<MigrationEvent> events = new CopyOnWriteArrayList<>();
    MigrationResult r = run(new FakeVm(job), opts().build(), events);

    assertThat(r.outcome()).isEqualTo(Outcome.COMPLETED);
    assertThat(r.downtime()).contains(Duration.ofMillis(23));
    assertThat(r.downtimeUnknown()).isEmpty();
    assertThat(r.bytesNotFinal()).isEmpty();
    assertThat(r.bytesOnWire()).isEqualTo((72L << 20) + 5000);
    assertThat(r.rounds()).extracting(rs -> rs.round()).containsExactly(0L, 1L, 2L);
    assertThat(r.rounds().get(0).pagesSent()).isEqualTo((66L << 20) / PAGE);
    assertThat(r.rounds().get(0).pagesDirtied()).isEqualTo((6L << 20) / PAGE);
    assertThat(r.rounds().get(2).stopAndCopy()).isTrue();
    assertThat(r.rounds().get(2).expectedDowntime()).isEqualTo(Duration.ofMillis(23));
    assertThat(events).filteredOn(MigrationEvent.RoundCompleted.class::isInstance).hasSize(3);
    assertThat(events.get(events.size() - 1)).isInstanceOf(MigrationEvent.Finished.class);
  }

  @Test
  void completedJob_recordedByFlightRecorder_eventsSayWhatTheResultSays() throws Exception {
    ScriptedJob job = new ScriptedJob(List.of(
        s(1, 10, 54, 2000, 300), s(1, 64, 1, 400, 2000), s(2, 70, 2, 200, 2200)),
        new Result(Result.Outcome.COMPLETED, "", completed(2, 72, 23, 2400)));
    java.nio.file.Path file = java.nio.file.Files.createTempFile("ferry-hv", ".jfr");
    MigrationResult r;
    try (jdk.jfr.Recording rec = new jdk.jfr.Recording()) {
      for (String name : List.of("dev.ferry.MigrationStart", "dev.ferry.Migration", "dev.ferry.Round",
          "dev.ferry.Switchover")) {
        rec.enable(name);
      }
      rec.start();
      r = run(new FakeVm(job), opts().build(), new ArrayList<>());
      rec.stop();
      rec.dump(file);
    }
    List<jdk.jfr.consumer.RecordedEvent> all;
    try {
      all = jdk.jfr.consumer.RecordingFile.readAllEvents(file);
    } finally {
      java.nio.file.Files.deleteIfExists(file);
    }
    assertThat(r.outcome()).isEqualTo(Outcome.COMPLETED);
    jdk.jfr.consumer.RecordedEvent start = all.stream()
        .filter(e -> e.getEventType().getName().equals("dev.ferry.MigrationStart")).findFirst().orElseThrow();
    assertThat(start.getString("plane")).isEqualTo("hypervisor");
    assertThat(start.getString("destination")).isEqualTo("qemu+unix:///system");
    assertThat(start.getString("source")).isEqualTo("h1");
    String id = start.getString("migrationId");
    List<jdk.jfr.consumer.RecordedEvent> mine = all.stream().filter(e -> id.equals(e.getString("migrationId")))
        .sorted(java.util.Comparator.comparing(jdk.jfr.consumer.RecordedEvent::getStartTime)).toList();
    List<jdk.jfr.consumer.RecordedEvent> rounds = mine.stream()
        .filter(e -> e.getEventType().getName().equals("dev.ferry.Round")).toList();
    assertThat(rounds).extracting(e -> e.getLong("round"))
        .containsExactlyElementsOf(r.rounds().stream().map(rs -> rs.round()).toList());
    assertThat(rounds).extracting(e -> e.getLong("pagesSent"))
        .containsExactlyElementsOf(r.rounds().stream().map(rs -> rs.pagesSent()).toList());
    jdk.jfr.consumer.RecordedEvent m = mine.stream()
        .filter(e -> e.getEventType().getName().equals("dev.ferry.Migration")).findFirst().orElseThrow();
    assertThat(m.getString("outcome")).isEqualTo("COMPLETED");
    assertThat(m.getDuration("downtime")).isEqualTo(Duration.ofMillis(23));
    assertThat(m.getLong("bytesOnWire")).isEqualTo(r.bytesOnWire());
    assertThat(m.getInt("rounds")).isEqualTo(r.roundCount());
  }

  @Test
  void progress_processedDipsAndRemainingRises_transferredAndRoundNeverRunBackwards() throws Exception {
    ScriptedJob job = new ScriptedJob(List.of(
        s(1, 30, 34, 900, 500), s(1, 64, 2, 100, 1000), s(2, 64, 20, 900, 1100), s(2, 50, 30, 900, 1200),
        s(1, 40, 30, 900, 1300), s(3, 90, 25, 800, 1500)),
        new Result(Result.Outcome.COMPLETED, "", completed(3, 95, 10, 1600)));
    MigrationSession s = start(new FakeVm(job), opts().build());
    List<Long> transferred = new CopyOnWriteArrayList<>();
    List<Long> rounds = new CopyOnWriteArrayList<>();
    s.addListener(e -> {
      if (e instanceof MigrationEvent.RoundCompleted rc) {
        transferred.add(rc.progress().transferred().bytes());
        rounds.add(rc.progress().round());
      }
    });
    List<Long> polled = new ArrayList<>();
    while (!s.completion().isDone()) {
      polled.add(s.progress().transferred().bytes());
      Thread.sleep(1);
    }
    assertThat(polled).isSorted();
    assertThat(transferred).isSorted();
    assertThat(rounds).isSorted();
  }

  @Test
  void stall_isJudgedFromTheTrendOverRounds_notFromOneSample() throws Exception {
    List<Stats> script = new ArrayList<>();
    // Round ends leave 40, 20 (progress), then 19, 21, 22, 20 MiB: no round gets below 90 % of 20.
    long[] remaining = {40, 20, 19, 21, 22, 20};
    long elapsed = 0;
    for (int i = 0; i < remaining.length; i++) {
      script.add(s(i + 1, 10L * (i + 1), 60, 5000, elapsed += 100)); // one high sample mid-round
      script.add(s(i + 2, 10L * (i + 1) + 5, remaining[i], 2000, elapsed += 100));
    }
    ScriptedJob job = new ScriptedJob(script, new Result(Result.Outcome.COMPLETED, "", completed(8, 100, 10, 2000)));
    List<MigrationEvent> events = new CopyOnWriteArrayList<>();
    run(new FakeVm(job), opts().build(), events);

    List<MigrationEvent.Decision> stalls = events.stream().filter(MigrationEvent.Decision.class::isInstance)
        .map(MigrationEvent.Decision.class::cast).filter(d -> d.reason().startsWith("pre-copy stalled")).toList();
    assertThat(stalls).hasSize(1);
    assertThat(stalls.get(0).actions()).isEmpty();
    // it is reported after the third round without progress, not before
    List<MigrationEvent> upToStall = events.subList(0, events.indexOf(stalls.get(0)));
    assertThat(upToStall).filteredOn(MigrationEvent.RoundCompleted.class::isInstance).hasSize(5);
  }

  @Test
  void policyAbort_abortsTheJob_rolledBackWithHypervisorsMessage() throws Exception {
    ScriptedJob job = new ScriptedJob(List.of(s(1, 10, 54, 2000, 300), s(2, 64, 30, 2000, 1000)), null);
    job.holdAtEnd = true;
    ConvergencePolicy giveUp = p -> p.round() >= 1 ? Decision.of("too slow", new PolicyAction.Abort("give up"))
        : Decision.keepGoing();
    MigrationResult r = run(new FakeVm(job), opts().policy(giveUp).build(), new ArrayList<>());

    assertThat(job.calls).contains("abort");
    assertThat(r.outcome()).isEqualTo(Outcome.ROLLED_BACK);
    assertThat(r.cause().orElseThrow().getMessage()).contains("give up").contains("canceled by client");
    assertThat(r.actions()).anyMatch(a -> a.startsWith("abort: give up"));
  }

  @Test
  void cancel_abortsTheJob_outcomeCancelled() throws Exception {
    ScriptedJob job = new ScriptedJob(List.of(s(1, 10, 54, 2000, 300)), null);
    job.holdAtEnd = true;
    FakeVm vm = new FakeVm(job);
    MigrationSession s = start(vm, opts().build());
    vm.awaitRequest();
    assertThat(s.cancel()).isTrue();
    MigrationResult r = s.completion().get(10, TimeUnit.SECONDS);
    assertThat(job.calls).contains("abort");
    assertThat(r.outcome()).isEqualTo(Outcome.CANCELLED);
  }

  @Test
  void cancel_whileTheHypervisorIsStartingTheJob_jobAbortedOnceStarted_outcomeCancelled() throws Exception {
    ScriptedJob job = new ScriptedJob(List.of(s(1, 10, 54, 2000, 300)), null);
    job.holdAtEnd = true;
    SlowStart slow = new SlowStart(job);
    MigrationSession s = start(new FakeVm("u-cancel-starting", slow), opts().build());
    assertThat(slow.inStart.await(10, TimeUnit.SECONDS)).isTrue();
    assertThat(s.cancel()).isTrue();
    slow.accept.countDown();
    MigrationResult r = s.completion().get(10, TimeUnit.SECONDS);
    assertThat(job.calls).contains("abort");
    assertThat(r.outcome()).isEqualTo(Outcome.CANCELLED);
  }

  @Test
  void failedJob_reportsFailedWithHypervisorsMessage() throws Exception {
    ScriptedJob job = new ScriptedJob(List.of(s(1, 10, 54, 2000, 300)),
        new Result(Result.Outcome.FAILED, "internal error: qemu unexpectedly closed the monitor",
            s(1, 10, 54, 2000, 300).withState(JobState.ENDED)));
    MigrationResult r = run(new FakeVm(job), opts().build(), new ArrayList<>());
    assertThat(r.outcome()).isEqualTo(Outcome.FAILED);
    assertThat(r.cause().orElseThrow().getMessage()).contains("qemu unexpectedly closed the monitor");
  }

  @Test
  void policyActions_appliedThroughTheJob_downtimeCappedAtMaxDowntime() throws Exception {
    ScriptedJob job = new ScriptedJob(List.of(s(1, 10, 54, 2000, 300), s(2, 64, 30, 2000, 1000),
        s(3, 90, 30, 2000, 1500)), new Result(Result.Outcome.COMPLETED, "", completed(4, 100, 40, 2000)));
    ConvergencePolicy steps = p -> p.round() == 1
        ? Decision.of("step", new PolicyAction.SetDowntimeLimit(Duration.ofSeconds(10)),
            new PolicyAction.SetBandwidth(Bandwidth.mibps(100)), new PolicyAction.SetThrottle(30),
            new PolicyAction.ForceCompletion())
        : Decision.keepGoing();
    MigrationResult r = run(new FakeVm(job), opts().maxDowntime(Duration.ofSeconds(1)).policy(steps).build(),
        new ArrayList<>());
    assertThat(job.calls).containsSubsequence("downtime 1000", "bandwidth 104.9 MB/s", "force");
    assertThat(r.actions()).anyMatch(a -> a.startsWith("throttle 30 % refused"));
    assertThat(r.outcome()).isEqualTo(Outcome.COMPLETED);
  }

  @Test
  void switchToPostCopy_notAllowed_refused_allowed_pointOfNoReturn() throws Exception {
    ConvergencePolicy pc = p -> Decision.of("late", new PolicyAction.SwitchToPostCopy());
    ScriptedJob refused = new ScriptedJob(List.of(s(1, 10, 54, 2000, 300), s(2, 64, 30, 2000, 1000)),
        new Result(Result.Outcome.COMPLETED, "", completed(2, 70, 5, 900)));
    MigrationResult r1 = run(new FakeVm(refused), opts().policy(pc).build(), new ArrayList<>());
    assertThat(refused.calls).doesNotContain("post-copy");
    assertThat(r1.actions()).anyMatch(a -> a.startsWith("post-copy refused: not allowed"));

    ScriptedJob allowed = new ScriptedJob(List.of(s(1, 10, 54, 2000, 300), s(2, 64, 30, 2000, 1000),
        s(2, 66, 28, 2000, 1100).withState(JobState.POST_COPY)), null);
    allowed.holdAtEnd = true;
    List<MigrationEvent> events = new CopyOnWriteArrayList<>();
    MigrationSession s = start(new FakeVm(allowed), opts().policy(pc).allowPostCopy(true).build());
    s.addListener(events::add);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (s.phase() != Phase.POST_COPY && System.nanoTime() < deadline) {
      Thread.sleep(1);
    }
    assertThat(allowed.calls).contains("post-copy");
    assertThat(s.phase()).isEqualTo(Phase.POST_COPY);
    assertThat(s.cancel()).as("too late once post-copy began").isFalse();
    allowed.result = new Result(Result.Outcome.COMPLETED, "", completed(2, 70, 3, 900));
    MigrationResult r2 = s.completion().get(10, TimeUnit.SECONDS);
    assertThat(r2.outcome()).isEqualTo(Outcome.COMPLETED);
    assertThat(r2.rounds().get(r2.rounds().size() - 1).stopAndCopy()).isFalse();
  }

  @Test
  void postCopyFailure_isInDoubt_neverRolledBackToAStaleSource() throws Exception {
    ScriptedJob job = new ScriptedJob(List.of(s(1, 10, 54, 2000, 300).withState(JobState.POST_COPY)),
        new Result(Result.Outcome.POST_COPY_FAILED, "migration failed in post-copy", completed(1, 20, 0, 500)));
    MigrationResult r = run(new FakeVm(job), opts().allowPostCopy(true).build(), new ArrayList<>());
    assertThat(r.outcome()).isEqualTo(Outcome.IN_DOUBT);
    assertThat(r.cause().orElseThrow().getMessage()).contains("post-copy failed");
  }

  @Test
  void totalTime_isTheCallersClockFromStartToEnd_notTheHypervisorsJobTime() throws Exception {
    FakeTicker clock = new FakeTicker();
    ScriptedJob job = new ScriptedJob(List.of(s(1, 10, 54, 2000, 300), s(2, 64, 2, 50, 2000)),
        new Result(Result.Outcome.COMPLETED, "", completed(2, 66, 20, 641)));
    job.beforeEnd = () -> clock.advance(Duration.ofMillis(2300));
    MigrationResult r = run(new FakeVm(job), opts().ticker(clock).build(), new CopyOnWriteArrayList<>());

    assertThat(r.outcome()).isEqualTo(Outcome.COMPLETED);
    assertThat(r.totalTime()).as("the session's ticker, not libvirt's 641 ms").isEqualTo(Duration.ofMillis(2300));
  }

  @Test
  void postCopyCompletedWithoutDowntimeFigure_downtimeEmptyWithReason_postCopyReported_noRoundAfterPostCopy()
      throws Exception {
    ConvergencePolicy pc = p -> Decision.of("switch", new PolicyAction.SwitchToPostCopy());
    String why = "libvirt kept no completed-job statistics after the post-copy migration";
    Stats last = s(4, 72, 1, 7976, 1400).withState(JobState.POST_COPY);
    ScriptedJob job = new ScriptedJob(List.of(s(1, 10, 54, 2000, 300), s(2, 64, 30, 2000, 1000),
        s(3, 66, 20, 7976, 1100).withState(JobState.POST_COPY), last),
        new Result(Result.Outcome.COMPLETED, "", last.withState(JobState.ENDED), Optional.of(why),
            Optional.of("bytes from the last sample")));
    List<MigrationEvent> events = new CopyOnWriteArrayList<>();
    MigrationResult r = run(new FakeVm(job), opts().policy(pc).allowPostCopy(true).build(), events);

    assertThat(r.outcome()).isEqualTo(Outcome.COMPLETED);
    assertThat(job.calls).contains("post-copy");
    assertThat(r.downtime()).as("not a measurement, so no figure").isEmpty();
    assertThat(r.downtimeUnknown()).contains(why);
    assertThat(r.downtimeText()).contains(why);
    assertThat(r.bytesNotFinal()).as("bytes that are a lower bound say so").contains("bytes from the last sample");
    assertThat(r.postCopy()).hasValueSatisfying(pcs -> assertThat(pcs.notMeasured()).isPresent());
    int switched = indexOf(events, e -> e instanceof MigrationEvent.PhaseChanged c && c.to() == Phase.POST_COPY);
    assertThat(switched).as("PhaseChanged(POST_COPY) in %s", events).isGreaterThanOrEqualTo(0);
    List<MigrationEvent> after = events.subList(switched + 1, events.size());
    assertThat(after).as("no round after the switch to post-copy")
        .noneMatch(MigrationEvent.RoundCompleted.class::isInstance);
    assertThat(after).filteredOn(MigrationEvent.PostCopyProgress.class::isInstance).isNotEmpty()
        .last().satisfies(e -> assertThat(((MigrationEvent.PostCopyProgress) e).pagesMissing()).isZero());
    MigrationEvent end = events.get(events.size() - 1);
    assertThat(end).isInstanceOf(MigrationEvent.Finished.class);
    assertThat(((MigrationEvent.Finished) end).result().downtime()).isEmpty();
  }

  @Test
  void destinationFailedAfterSwitch_outcomeDestinationFailedWithHypervisorsWords_neverCompleted() throws Exception {
    String said = "the domain is gone from the destination (virDomainGetState: Domain not found)";
    ScriptedJob job = new ScriptedJob(List.of(s(1, 10, 54, 2000, 300), s(2, 64, 2, 50, 2000)),
        new Result(Result.Outcome.DESTINATION_FAILED, said, completed(2, 66, 0, 2100),
            Optional.of("the destination stopped running the guest after the switch")));
    MigrationResult r = run(new FakeVm(job), opts().build(), new CopyOnWriteArrayList<>());

    assertThat(r.outcome()).isEqualTo(Outcome.DESTINATION_FAILED);
    assertThat(r.cause().orElseThrow().getMessage()).contains(said);
    assertThat(r.downtime()).isEmpty();
    assertThat(r.downtimeUnknown()).isPresent();
  }

  private static int indexOf(List<MigrationEvent> events, java.util.function.Predicate<MigrationEvent> p) {
    for (int i = 0; i < events.size(); i++) {
      if (p.test(events.get(i))) {
        return i;
      }
    }
    return -1;
  }

  @Test
  void start_destinationConfig_passedToTheHypervisorAsGiven() throws Exception {
    ScriptedJob job = new ScriptedJob(List.of(s(1, 1, 63, 0, 10)), null);
    job.holdAtEnd = true;
    FakeVm vm = new FakeVm(job);
    String xml = "<domain type='qemu'><name>dom1</name></domain>";
    MigrationSession s = start(vm, opts().destinationConfig(xml).build());
    assertThat(vm.awaitRequest().destinationConfig()).contains(xml);
    s.cancel();
    assertThat(s.completion().get(10, TimeUnit.SECONDS).outcome()).isEqualTo(Outcome.CANCELLED);
  }

  @Test
  void start_backendOptions_passedToTheHypervisorAsGiven() throws Exception {
    ScriptedJob job = new ScriptedJob(List.of(s(1, 1, 63, 0, 10)), null);
    job.holdAtEnd = true;
    FakeVm vm = new FakeVm(job);
    HypervisorMigration.BackendOptions mine = new HypervisorMigration.BackendOptions() {};
    MigrationSession s = start(vm, opts().backendOptions(mine).build());
    assertThat(vm.awaitRequest().backendOptions()).containsSame(mine);
    s.cancel();
    assertThat(s.completion().get(10, TimeUnit.SECONDS).outcome()).isEqualTo(Outcome.CANCELLED);
  }

  @Test
  void postCopyProgress_expectedDowntimeIsZero_noStopAndCopyIsToCome() throws Exception {
    ConvergencePolicy pc = p -> Decision.of("switch", new PolicyAction.SwitchToPostCopy());
    Stats last = s(4, 72, 1, 7976, 1400).withState(JobState.POST_COPY);
    ScriptedJob job = new ScriptedJob(List.of(s(1, 10, 54, 2000, 300), s(2, 64, 30, 2000, 1000),
        s(3, 66, 20, 7976, 1100).withState(JobState.POST_COPY), last),
        new Result(Result.Outcome.COMPLETED, "", last.withState(JobState.ENDED)));
    job.holdUntilGo();
    MigrationSession s = start(new FakeVm(job), opts().policy(pc).allowPostCopy(true).build());
    List<Duration> seen = new CopyOnWriteArrayList<>();
    s.addListener(e -> {
      if (e instanceof MigrationEvent.PostCopyProgress) {
        seen.add(s.progress().expectedDowntime());
      }
    });
    job.go();
    assertThat(s.completion().get(20, TimeUnit.SECONDS).outcome()).isEqualTo(Outcome.COMPLETED);

    assertThat(seen).as("progress published with each post-copy event").isNotEmpty()
        .allSatisfy(d -> assertThat(d).isZero());
  }
}
