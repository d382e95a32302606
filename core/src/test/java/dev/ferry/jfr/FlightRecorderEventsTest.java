package dev.ferry.jfr;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.DowntimeBreakdown;
import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationReceiver;
import dev.ferry.ReceiverOptions;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.PostCopyStats;
import dev.ferry.RoundStats;
import dev.ferry.policy.ConvergencePolicy;
import dev.ferry.policy.Decision;
import dev.ferry.policy.PolicyAction;
import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real migrations between two simulated hosts over 127.0.0.1, recorded by Flight Recorder into a
 * file that is then read back: the events must say what the migration's result says.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class FlightRecorderEventsTest {
  private static final AtomicInteger SEQ = new AtomicInteger();
  private static final List<String> NAMES = List.of("dev.ferry.MigrationStart", "dev.ferry.Migration",
      "dev.ferry.PhaseChange", "dev.ferry.Round", "dev.ferry.PolicyDecision", "dev.ferry.Switchover",
      "dev.ferry.PostCopyProgress", "dev.ferry.PostCopyRecovery", "dev.ferry.VerificationFailed",
      "dev.ferry.IncomingMigration");

  /** Throttles the vCPUs by 20 % at its first call, and forces completion at the next. */
  private static final ConvergencePolicy THROTTLE_THEN_FORCE = new ConvergencePolicy() {
    @Override
    public Decision decide(dev.ferry.Progress p) {
      return p.throttlePercent() == 0
          ? Decision.of("test: throttle once", new PolicyAction.SetThrottle(20))
          : Decision.of("test: then force", new PolicyAction.ForceCompletion());
    }

    @Override
    public String toString() {
      return "throttle-then-force";
    }
  };

  private static final ConvergencePolicy SWITCH_AFTER_ROUND_1 = p -> p.round() >= 1
      ? Decision.of("test: switch after round 1", new PolicyAction.SwitchToPostCopy())
      : Decision.keepGoing();

  @TempDir
  Path dir;

  /** The migration's result, and the recorded events of that migration alone (by its id), in order. */
  private record Recorded(MigrationResult result, List<RecordedEvent> events, List<RecordedEvent> all) {
    List<RecordedEvent> named(String name) {
      return events.stream().filter(e -> e.getEventType().getName().equals(name)).collect(Collectors.toList());
    }

    RecordedEvent one(String name) {
      List<RecordedEvent> all = named(name);
      assertThat(all).as(name).hasSize(1);
      return all.get(0);
    }
  }

  private Recorded migrateRecorded(String vm, Workload workload, MigrationOptions options) throws Exception {
    int n = SEQ.incrementAndGet();
    String src = "jfr-src-" + n;
    String dst = "jfr-dst-" + n;
    SimHost.named(src).createVm(SimVmSpec.builder(vm).memory(DataSize.mib(16)).vcpus(2).workload(workload)
        .seed(5).build()).fillRandom(3);
    Path file = dir.resolve(vm + ".jfr");
    MigrationResult r;
    try (Host a = Ferry.connect("sim://" + src); Host b = Ferry.connect("sim://" + dst);
        Recording rec = new Recording()) {
      NAMES.forEach(name -> rec.enable(name).withoutStackTrace());
      rec.start();
      MigrationReceiver receiver = b.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), "");
      r = a.migrate(a.vm(vm), receiver.target().withHostUri(b.uri().orElseThrow()), options).completion()
          .get(60, TimeUnit.SECONDS);
      assertThat(receiver.awaitReceived(1, Duration.ofSeconds(20))).as("the destination saw the end").isTrue();
      rec.stop();
      rec.dump(file);
    } finally {
      SimHost.named(src).destroy();
      SimHost.named(dst).destroy();
    }
    List<RecordedEvent> all = RecordingFile.readAllEvents(file).stream()
        .filter(e -> e.getEventType().getName().startsWith("dev.ferry."))
        .sorted(java.util.Comparator.comparing(RecordedEvent::getStartTime))
        .collect(Collectors.toList());
    String id = all.stream().filter(e -> e.getEventType().getName().equals("dev.ferry.MigrationStart")
        && vm.equals(e.getString("vm"))).map(e -> e.getString("migrationId")).findFirst().orElseThrow();
    return new Recorded(r, all.stream().filter(e -> e.hasField("migrationId") && id.equals(e.getString("migrationId")))
        .collect(Collectors.toList()), all);
  }

  @Test
  void preCopy_recorded_eventsMatchTheResultRoundByRoundAndTheDowntimeBreakdown() throws Exception {
    // No stop-and-copy fits 1 ms: the policy is asked after every round until it forces completion.
    MigrationOptions o = MigrationOptions.builder().maxDowntime(Duration.ofMillis(1))
        .bandwidthLimit(Bandwidth.mbps(200)).deadline(Duration.ofSeconds(40)).policy(THROTTLE_THEN_FORCE)
        .verify(true).build();
    Recorded rec = migrateRecorded("jfr-pre", Workload.uniform(20_000), o);
    MigrationResult r = rec.result();
    assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.COMPLETED);

    RecordedEvent start = rec.one("dev.ferry.MigrationStart");
    assertThat(start.getString("vm")).isEqualTo("jfr-pre");
    assertThat(start.getString("plane")).isEqualTo("engine");
    assertThat(start.getString("policy")).isEqualTo("throttle-then-force");
    assertThat(start.getString("source")).startsWith("jfr-src-");
    assertThat(start.getString("destination")).startsWith("127.0.0.1:").matches(".* \\(sim://jfr-dst-\\d+\\)");
    assertThat(start.getLong("memory")).isEqualTo(DataSize.mib(16).bytes());
    assertThat(start.getDuration("maxDowntime")).isEqualTo(Duration.ofMillis(1));
    assertThat(start.getDuration("deadline")).isEqualTo(Duration.ofSeconds(40));
    assertThat(start.getBoolean("verify")).isTrue();

    List<RecordedEvent> rounds = rec.named("dev.ferry.Round");
    assertThat(rounds).as("one Round event per round of the result").hasSize(r.roundCount());
    for (int i = 0; i < rounds.size(); i++) {
      RecordedEvent e = rounds.get(i);
      RoundStats s = r.rounds().get(i);
      assertThat(e.getLong("round")).isEqualTo(s.round());
      assertThat(e.getBoolean("stopAndCopy")).isEqualTo(s.stopAndCopy());
      assertThat(e.getLong("pagesSent")).isEqualTo(s.pagesSent());
      assertThat(e.getLong("zeroPages")).isEqualTo(s.zeroPages());
      assertThat(e.getLong("bytesOnWire")).isEqualTo(s.bytesOnWire());
      assertThat(e.getDuration("roundTime")).isEqualTo(s.duration());
      assertThat(e.getLong("bandwidth")).isEqualTo(s.bandwidth().bytesPerSecond());
      assertThat(e.getLong("pagesDirtied")).isEqualTo(s.pagesDirtied());
      assertThat(e.getLong("dirtyRatePages")).isEqualTo(s.dirtyRatePagesPerSecond());
      assertThat(e.getLong("dirtyRate")).isEqualTo(s.dirtyRatePagesPerSecond() * 4096);
      assertThat(e.getDuration("expectedDowntime")).isEqualTo(s.expectedDowntime());
      assertThat(e.getDouble("throttle")).isEqualTo(s.throttlePercent() / 100.0);
      assertThat(e.getDuration()).as("a round spans time on the time line").isPositive();
    }
    assertThat(rounds.get(rounds.size() - 1).getBoolean("stopAndCopy")).isTrue();
    assertThat(rounds).anyMatch(e -> e.getDouble("throttle") == 0.2);

    List<RecordedEvent> decisions = rec.named("dev.ferry.PolicyDecision");
    assertThat(decisions).anyMatch(e -> e.getString("reason").equals("test: throttle once")
        && e.getString("actions").contains("20"));
    assertThat(decisions).anyMatch(e -> e.getString("reason").equals("test: then force"));
    assertThat(decisions.stream().mapToInt(e -> e.getInt("actionCount")).sum())
        .as("every action of the result, in a decision").isEqualTo(r.actions().size());

    DowntimeBreakdown b = r.downtimeBreakdown().orElseThrow();
    RecordedEvent sw = rec.one("dev.ferry.Switchover");
    assertThat(sw.getString("kind")).isEqualTo("STOP_AND_COPY");
    assertThat(sw.getBoolean("breakdown")).isTrue();
    assertThat(sw.getDuration("downtime")).isEqualTo(r.downtime().orElseThrow()).isEqualTo(b.total());
    assertThat(sw.getDuration("pause")).isEqualTo(b.pause());
    assertThat(sw.getDuration("finalSync")).isEqualTo(b.finalSync());
    assertThat(sw.getDuration("finalPages")).isEqualTo(b.finalPages());
    assertThat(sw.getDuration("deviceState")).isEqualTo(b.deviceState());
    assertThat(sw.getDuration("confirmation")).isEqualTo(b.confirmation());
    assertThat(sw.getDuration("verification")).isEqualTo(b.verification()).isPositive();
    assertThat(sw.getDuration("commit")).isEqualTo(b.commit());
    assertThat(sw.getDuration("activation")).isEqualTo(b.activation());

    assertThat(rec.named("dev.ferry.PhaseChange").stream().map(e -> e.getString("to")).collect(Collectors.toList()))
        .containsSubsequence("PRE_COPY", "STOP_AND_COPY", "ENDED");

    RecordedEvent m = rec.one("dev.ferry.Migration");
    assertThat(m.getString("outcome")).isEqualTo("COMPLETED");
    assertThat(m.getString("cause")).isEmpty();
    assertThat(m.getInt("rounds")).isEqualTo(r.roundCount());
    assertThat(m.getLong("pagesSent")).isEqualTo(r.pagesSent());
    assertThat(m.getLong("bytesOnWire")).isEqualTo(r.bytesOnWire());
    assertThat(m.getDuration("downtime")).isEqualTo(r.downtime().orElseThrow());
    assertThat(m.getDuration("totalTime")).isEqualTo(r.totalTime());
    assertThat(m.getBoolean("verified")).isTrue();
    assertThat(m.getBoolean("postCopy")).isFalse();
    assertThat(m.getStartTime()).as("the migration spans its first round")
        .isBeforeOrEqualTo(rounds.get(0).getStartTime());
    assertThat(m.getEndTime()).isAfterOrEqualTo(sw.getEndTime());

    List<RecordedEvent> incoming = rec.all().stream()
        .filter(e -> e.getEventType().getName().equals("dev.ferry.IncomingMigration")
            && "jfr-pre".equals(e.getString("vm"))).collect(Collectors.toList());
    assertThat(incoming).as("the destination's event").hasSize(1);
    assertThat(incoming.get(0).getString("host")).startsWith("jfr-dst-");
    assertThat(incoming.get(0).getString("outcome")).isEqualTo("ARRIVED");
    assertThat(incoming.get(0).getString("detail")).isEmpty();
    assertThat(incoming.get(0).getDuration("time")).isPositive();
  }

  @Test
  void postCopy_recorded_progressEventsCountTheFaultsOfTheResult() throws Exception {
    MigrationOptions o = MigrationOptions.builder().allowPostCopy(true).maxDowntime(Duration.ofMillis(100))
        .bandwidthLimit(Bandwidth.mbps(40)).policy(SWITCH_AFTER_ROUND_1).deadline(Duration.ofSeconds(40)).build();
    Recorded rec = migrateRecorded("jfr-post", Workload.uniform(40_000), o);
    MigrationResult r = rec.result();
    assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.COMPLETED);
    PostCopyStats pc = r.postCopy().orElseThrow();

    RecordedEvent sw = rec.one("dev.ferry.Switchover");
    assertThat(sw.getString("kind")).isEqualTo("POST_COPY");
    assertThat(sw.getDuration("downtime")).isEqualTo(r.downtime().orElseThrow());

    List<RecordedEvent> progress = rec.named("dev.ferry.PostCopyProgress");
    assertThat(progress).as("post-copy progress events").isNotEmpty();
    long[] faults = progress.stream().mapToLong(e -> e.getLong("faults")).toArray();
    for (int i = 1; i < faults.length; i++) {
      assertThat(faults[i]).as("faults never run backwards").isGreaterThanOrEqualTo(faults[i - 1]);
    }
    assertThat(progress.stream().mapToLong(e -> e.getLong("newFaults")).sum())
        .as("new faults add up to the last count").isEqualTo(faults[faults.length - 1]);
    assertThat(faults[faults.length - 1]).isLessThanOrEqualTo(pc.faults());
    assertThat(rec.named("dev.ferry.PolicyDecision"))
        .anyMatch(e -> e.getString("reason").equals("test: switch after round 1") && e.getLong("round") >= 1);

    assertThat(rec.all()).as("the destination's event, once post-copy is over")
        .anyMatch(e -> e.getEventType().getName().equals("dev.ferry.IncomingMigration")
            && "jfr-post".equals(e.getString("vm")) && e.getString("outcome").equals("ARRIVED"));

    RecordedEvent m = rec.one("dev.ferry.Migration");
    assertThat(m.getBoolean("postCopy")).isTrue();
    assertThat(m.getLong("postCopyFaults")).isEqualTo(pc.faults());
    assertThat(m.getDuration("postCopyBlocked")).isEqualTo(pc.blockedTotal());
    assertThat(m.getInt("rounds")).isEqualTo(r.roundCount());
  }

  @Test
  void flightRecorderOff_recorded_commitsNoEventForThatMigrationOnEitherEnd() throws Exception {
    int n = SEQ.incrementAndGet();
    String src = "jfr-off-src-" + n;
    String dst = "jfr-off-dst-" + n;
    SimHost.named(src).createVm(SimVmSpec.builder("jfr-off").memory(DataSize.mib(8)).vcpus(1)
        .workload(Workload.idle()).build());
    Path file = dir.resolve("off.jfr");
    try (Host a = Ferry.connect("sim://" + src); Host b = Ferry.connect("sim://" + dst);
        Recording rec = new Recording()) {
      NAMES.forEach(name -> rec.enable(name).withoutStackTrace());
      rec.start();
      MigrationReceiver receiver = b.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
          ReceiverOptions.builder().flightRecorder(false).build());
      MigrationResult r = a.migrate(a.vm("jfr-off"), receiver.target(), MigrationOptions.builder()
          .flightRecorder(false).build()).completion().get(60, TimeUnit.SECONDS);
      assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.COMPLETED);
      assertThat(receiver.awaitReceived(1, Duration.ofSeconds(20))).isTrue();
      rec.stop();
      rec.dump(file);
    } finally {
      SimHost.named(src).destroy();
      SimHost.named(dst).destroy();
    }
    assertThat(Files.size(file)).isPositive();
    assertThat(RecordingFile.readAllEvents(file))
        .noneMatch(e -> e.getEventType().getName().startsWith("dev.ferry.") && e.hasField("vm")
            && "jfr-off".equals(e.getString("vm")));
  }
}
