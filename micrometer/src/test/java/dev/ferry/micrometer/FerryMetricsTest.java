package dev.ferry.micrometer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.MigrationEvent;
import dev.ferry.MigrationListener;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.MigrationTarget;
import dev.ferry.Phase;
import dev.ferry.junit.SimHosts;
import dev.ferry.sim.FaultyLink;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.VmId;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The binding after real migrations between two simulated hosts over TCP on 127.0.0.1: the meters
 * hold what each {@link MigrationResult} says, and the gauges what the rounds' progress said while
 * the migration ran.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class FerryMetricsTest {
  private static final Tags ROUTE = Tags.of("source", "rack1-a", "destination", "rack1-b", "policy", "predictive");

  /** What a listener placed after the binding's saw of the gauges at each round's end. */
  private record Seen(long inFlight, long remaining, long dirtyRate, long expectedRemaining, long expectedDirtyRate) {}

  private static double gauge(MeterRegistry registry, String name) {
    return registry.get(name).tags(ROUTE).gauge().value();
  }

  private static MigrationResult migrate(SimHosts hosts, MeterRegistry registry, MigrationTarget target,
      List<Seen> seen) throws Exception {
    FerryMetrics metrics = new FerryMetrics(registry);
    MigrationListener probe = event -> {
      if (event instanceof MigrationEvent.RoundCompleted rc) {
        seen.add(new Seen((long) gauge(registry, FerryMetrics.IN_FLIGHT), (long) gauge(registry, FerryMetrics.REMAINING),
            (long) gauge(registry, FerryMetrics.DIRTY_RATE), rc.progress().remaining().bytes(),
            rc.progress().dirtyRateBytesPerSecond()));
      }
    };
    return hosts.migrate("web-1", target, MigrationOptions.builder().bandwidthLimit(Bandwidth.mbps(80))
        .maxDowntime(Duration.ofMillis(100)).deadline(Duration.ofSeconds(30))
        .listener(metrics.listener("rack1-a", "rack1-b", "predictive")).listener(probe).build())
        .completion().get(60, TimeUnit.SECONDS);
  }

  private static void busyVm(SimHosts hosts) {
    hosts.source().createVm(SimVmSpec.builder("web-1").memory(DataSize.mib(16)).vcpus(2)
        .workload(Workload.uniform(20_000)).seed(5).build()).fillRandom(5);
  }

  @Test
  void listener_completedMigration_metersHoldTheResultsFiguresAndInFlightIsBackToZero() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    List<Seen> seen = new CopyOnWriteArrayList<>();
    MigrationResult r;
    try (SimHosts hosts = SimHosts.create("metrics")) {
      busyVm(hosts);
      r = migrate(hosts, registry, hosts.target(), seen);
      assertThat(hosts.verify()).isEmpty();
    }
    assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.COMPLETED);
    Tags completed = ROUTE.and("outcome", "COMPLETED");

    Timer duration = registry.get(FerryMetrics.DURATION).tags(completed).timer();
    assertThat(duration.count()).isEqualTo(1);
    assertThat((long) duration.totalTime(TimeUnit.NANOSECONDS)).isEqualTo(r.totalTime().toNanos());
    Timer downtime = registry.get(FerryMetrics.DOWNTIME).tags(completed).timer();
    assertThat(downtime.count()).isEqualTo(1);
    assertThat((long) downtime.totalTime(TimeUnit.NANOSECONDS)).isEqualTo(r.downtime().orElseThrow().toNanos());
    assertThat(registry.find(FerryMetrics.DOWNTIME_UNKNOWN).counter()).isNull();

    assertThat(registry.get(FerryMetrics.BYTES).tags(ROUTE).counter().count()).isEqualTo((double) r.bytesOnWire());
    assertThat(registry.get(FerryMetrics.PAGES).tags(ROUTE).counter().count()).isEqualTo((double) r.pagesSent());
    assertThat(registry.get(FerryMetrics.ROUNDS).tags(ROUTE).counter().count()).isEqualTo((double) r.roundCount());

    assertThat(seen).as("gauges seen at each round's end").hasSizeGreaterThan(1);
    for (Seen s : seen) {
      assertThat(s.inFlight()).isEqualTo(1);
      assertThat(s.remaining()).isEqualTo(s.expectedRemaining());
      assertThat(s.dirtyRate()).isEqualTo(s.expectedDirtyRate());
    }
    assertThat(seen).anyMatch(s -> s.remaining() > 0);
    assertThat(gauge(registry, FerryMetrics.IN_FLIGHT)).isZero();
    assertThat(gauge(registry, FerryMetrics.REMAINING)).isZero();
    assertThat(gauge(registry, FerryMetrics.DIRTY_RATE)).isZero();
  }

  @Test
  void listener_failedMigration_isTimedUnderItsOutcomeAndLeavesNothingInFlight() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    MigrationResult r;
    try (SimHosts hosts = SimHosts.create("metrics")) {
      busyVm(hosts);
      FaultyLink link = hosts.faultyLink().cutAfter(DataSize.mib(2).bytes());
      r = migrate(hosts, registry, new MigrationTarget(link.address(), ""), new CopyOnWriteArrayList<>());
      assertThat(hosts.verify()).isEmpty();
    }
    assertThat(r.outcome()).isEqualTo(Outcome.FAILED);
    Tags failed = ROUTE.and("outcome", "FAILED");
    assertThat(registry.get(FerryMetrics.DURATION).tags(failed).timer().count()).isEqualTo(1);
    assertThat(registry.find(FerryMetrics.DURATION).tags(ROUTE.and("outcome", "COMPLETED")).timer()).isNull();
    assertThat(registry.get(FerryMetrics.BYTES).tags(ROUTE).counter().count()).isEqualTo((double) r.bytesOnWire());
    assertThat(gauge(registry, FerryMetrics.IN_FLIGHT)).isZero();
  }

  @Test
  void listener_resultWithUnknownDowntime_countsItAndRecordsNoDowntime() {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    MigrationListener l = new FerryMetrics(registry).listener("rack1-a", "rack1-b", "predictive");
    MigrationResult r = new MigrationResult(new VmId("hv-1"), Outcome.COMPLETED, Optional.empty(), Optional.empty(),
        Optional.of("the hypervisor keeps no downtime figure"), Duration.ofMillis(400), 8_400_000, 2048, List.of(),
        false, List.of(), Optional.empty(), Optional.empty());
    l.onEvent(new MigrationEvent.PhaseChanged(Duration.ZERO, Phase.SETUP, Phase.PRE_COPY));
    assertThat(gauge(registry, FerryMetrics.IN_FLIGHT)).isEqualTo(1);
    l.onEvent(new MigrationEvent.Finished(Duration.ofMillis(400), r));
    Tags completed = ROUTE.and("outcome", "COMPLETED");
    assertThat(registry.get(FerryMetrics.DOWNTIME_UNKNOWN).tags(completed).counter().count()).isEqualTo(1);
    assertThat(registry.find(FerryMetrics.DOWNTIME).timer()).as("no 0 recorded for an unknown downtime").isNull();
    assertThat(registry.get(FerryMetrics.BYTES).tags(ROUTE).counter().count()).isEqualTo(8_400_000.0);
    assertThat(gauge(registry, FerryMetrics.IN_FLIGHT)).isZero();
  }

  @Test
  void prometheusScrape_afterARealMigration_hasTheResultsFigures() throws Exception {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    MigrationResult r;
    try (SimHosts hosts = SimHosts.create("metrics")) {
      busyVm(hosts);
      r = migrate(hosts, registry, hosts.target(), new CopyOnWriteArrayList<>());
      assertThat(hosts.verify()).isEmpty();
    }
    assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.COMPLETED);
    String scrape = registry.scrape();
    // Kept for a person to look at (the README's excerpt comes from such a file).
    Files.createDirectories(Path.of("target"));
    Files.writeString(Path.of("target", "prometheus-scrape.txt"), scrape);
    String labels = "{destination=\"rack1-b\",policy=\"predictive\",source=\"rack1-a\"}";
    assertThat(scrape).contains("ferry_migration_bytes_total" + labels + " " + (double) r.bytesOnWire());
    assertThat(scrape).contains("ferry_migration_pages_total" + labels + " " + (double) r.pagesSent());
    assertThat(scrape).contains("ferry_migrations_in_flight" + labels + " 0.0");
    assertThat(scrape).contains("ferry_migration_downtime_seconds_count{destination=\"rack1-b\",outcome=\"COMPLETED\","
        + "policy=\"predictive\",source=\"rack1-a\"} 1");
  }
}
