package dev.ferry.report;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.DowntimeBreakdown;
import dev.ferry.MigrationEvent;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.MigrationTarget;
import dev.ferry.PostCopyStats;
import dev.ferry.RoundStats;
import dev.ferry.junit.SimHosts;
import dev.ferry.policy.ConvergencePolicy;
import dev.ferry.policy.Decision;
import dev.ferry.policy.PolicyAction;
import dev.ferry.sim.FaultyLink;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.VmId;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * Real migrations between two simulated hosts over TCP on 127.0.0.1, one of each shape a report
 * must draw, with every event recorded; and one result no sim migration gives (a hypervisor's,
 * with the downtime unknown).
 */
final class SimRuns {
  private SimRuns() {}

  /** What one migration emitted, in order, and its result. */
  record Run(List<MigrationEvent> events, MigrationResult result) {}

  private static final ConvergencePolicy POST_COPY_AFTER_ROUND_1 = p -> p.round() >= 1
      ? Decision.of("test: switch after round 1", new PolicyAction.SwitchToPostCopy())
      : Decision.keepGoing();

  private static final ConvergencePolicy ABORT_AFTER_ROUND_2 = p -> p.round() >= 2
      ? Decision.of("test: give up after round 2", new PolicyAction.Abort("test: give up"))
      : Decision.keepGoing();

  /** A busy guest, several pre-copy rounds, completed. */
  static Run manyRounds() throws Exception {
    return run("many", DataSize.mib(16), Workload.uniform(20_000), MigrationOptions.builder()
        .bandwidthLimit(Bandwidth.mbps(80)).maxDowntime(Duration.ofMillis(100)).deadline(Duration.ofSeconds(30)));
  }

  /** A quick migration: one stop-and-copy round. */
  static Run oneRound() throws Exception {
    return run("one", DataSize.mib(8), Workload.idle(), MigrationOptions.builder().quick(true)
        .deadline(Duration.ofSeconds(30)));
  }

  /** A guest dirtying far faster than the link, switched to post-copy after round 1. */
  static Run postCopy() throws Exception {
    return run("pc", DataSize.mib(16), Workload.uniform(40_000), MigrationOptions.builder().allowPostCopy(true)
        .maxDowntime(Duration.ofMillis(100)).bandwidthLimit(Bandwidth.mbps(40)).policy(POST_COPY_AFTER_ROUND_1)
        .postCopyRecoveryTimeout(Duration.ofSeconds(20)));
  }

  /** A guest that cannot converge, given up by the policy after round 2: rolled back. */
  static Run rolledBack() throws Exception {
    return run("rb", DataSize.mib(8), Workload.uniform(Workload.MAX_RATE), MigrationOptions.builder()
        .maxDowntime(Duration.ofNanos(1)).bandwidthLimit(Bandwidth.mbps(80)).policy(ABORT_AFTER_ROUND_2)
        .deadline(Duration.ofSeconds(30)));
  }

  /** The link cut in round 0: failed. */
  static Run failed() throws Exception {
    try (SimHosts hosts = SimHosts.create("report")) {
      hosts.source().createVm(SimVmSpec.builder("cut").memory(DataSize.mib(8)).vcpus(1)
          .workload(Workload.uniform(2000)).build()).fillRandom(1);
      FaultyLink link = hosts.faultyLink().cutAfter(DataSize.mib(2).bytes());
      List<MigrationEvent> events = new CopyOnWriteArrayList<>();
      MigrationResult r = hosts.migrate("cut", new MigrationTarget(link.address(), ""), MigrationOptions.builder()
          .deadline(Duration.ofSeconds(30)).listener(events::add).build()).completion().get(60, TimeUnit.SECONDS);
      assertThat(hosts.verify()).isEmpty();
      return new Run(List.copyOf(events), r);
    }
  }

  private static Run run(String name, DataSize memory, Workload workload, MigrationOptions.Builder options)
      throws Exception {
    try (SimHosts hosts = SimHosts.create("report")) {
      hosts.source().createVm(SimVmSpec.builder(name).memory(memory).vcpus(2).workload(workload).seed(17).build())
          .fillRandom(3);
      List<MigrationEvent> events = new CopyOnWriteArrayList<>();
      MigrationResult r = hosts.migrate(name, options.listener(events::add).build()).completion()
          .get(60, TimeUnit.SECONDS);
      assertThat(hosts.verify()).isEmpty();
      return new Run(List.copyOf(events), r);
    }
  }

  /**
   * What a hypervisor-driven migration may end with and no sim migration does: the downtime not
   * measured, bytes a lower bound, post-copy figures not measured.
   */
  static MigrationResult unknownDowntime() {
    RoundStats r0 = new RoundStats(0, false, 2048, 10, 8_400_000, Duration.ofMillis(210), Bandwidth.mbps(40), 300,
        1400, Duration.ofMillis(30), 0);
    PostCopyStats pc = new PostCopyStats(Duration.ofMillis(120), 0, Duration.ZERO, Duration.ZERO, Duration.ZERO,
        Duration.ZERO, 37, 0, 0, 0, Optional.of("faults, blocked times, prepaged and pushed pages: not reported"));
    return new MigrationResult(new VmId("hv-1"), Outcome.COMPLETED, Optional.empty(), Optional.empty(),
        Optional.of("the hypervisor keeps no downtime figure"), Duration.ofMillis(400), 8_400_000, 2048,
        List.of(r0), false, List.of("switch to post-copy"), Optional.of(pc), Optional.<DowntimeBreakdown>empty(),
        Optional.of("the job's last statistics before it ended"));
  }
}
