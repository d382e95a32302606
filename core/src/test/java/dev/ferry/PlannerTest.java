package dev.ferry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.policy.ConvergencePolicy;
import dev.ferry.policy.PolicyAction;
import dev.ferry.policy.PolicySimulator;
import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@link Ferry#plan}: a short measurement of a simulated VM, then the policy run against the model. */
class PlannerTest {
  private static final AtomicInteger SEQ = new AtomicInteger();
  private SimHost sim;
  private Host host;

  @BeforeEach
  void host() {
    sim = SimHost.named("plan-" + SEQ.incrementAndGet());
    host = Ferry.connect("sim://" + sim.name());
  }

  @AfterEach
  void close() {
    host.close();
    sim.destroy();
  }

  private Vm vm(String name, Workload w) {
    sim.createVm(SimVmSpec.builder(name).memory(DataSize.mib(64)).vcpus(2).workload(w).seed(3).build());
    return host.vm(name);
  }

  @Test
  void plan_quietGuest_convergesWithoutSteps() {
    Vm vm = vm("quiet", Workload.uniform(1_000));
    sim.vm("quiet").orElseThrow().fillRandom(5); // every page holds data: all 64 MiB to send
    MigrationPlan plan = Ferry.plan(vm, Bandwidth.mbps(100), MigrationOptions.defaults(), Duration.ofMillis(400));
    assertThat(plan.run().ending()).isEqualTo(PolicySimulator.Ending.CONVERGED);
    assertThat(plan.dirtyRatePagesPerSecond()).isBetween(200L, 2_000L);
    assertThat(plan.run().steps()).isEmpty();
    // 64 MiB at 100 MB/s: about 0.7 s for round 0, a little more in all.
    assertThat(plan.run().total()).isBetween(Duration.ofMillis(600), Duration.ofSeconds(2));
    assertThat(plan.run().bytes()).isGreaterThanOrEqualTo(DataSize.mib(64).bytes());
    assertThat(plan.toString()).contains("plan for quiet", "predicted: completes");
  }

  @Test
  void plan_guestDirtyingFasterThanTheLink_predictiveThrottlesWhereFixedDowntimeGivesUp() {
    Vm vm = vm("busy", Workload.uniform(20_000));
    MigrationOptions fixed = MigrationOptions.builder().deadline(Duration.ofSeconds(30))
        .policy(ConvergencePolicy.fixedDowntime()).build();
    MigrationPlan giveUp = Ferry.plan(vm, Bandwidth.mbps(20), fixed, Duration.ofMillis(400));
    assertThat(giveUp.run().ending()).isEqualTo(PolicySimulator.Ending.ABORTED);
    assertThat(giveUp.run().total()).isLessThanOrEqualTo(Duration.ofSeconds(30));

    MigrationPlan predictive = Ferry.plan(vm, Bandwidth.mbps(20),
        fixed.toBuilder().policy(ConvergencePolicy.predictive()).build(), Duration.ofMillis(400));
    assertThat(predictive.run().ending()).isEqualTo(PolicySimulator.Ending.CONVERGED);
    assertThat(predictive.run().downtime()).isLessThanOrEqualTo(Duration.ofMillis(300));
    assertThat(predictive.run().steps()).isNotEmpty();
    assertThat(predictive.run().steps().get(0).actions()).anyMatch(a -> a instanceof PolicyAction.SetThrottle);
  }

  @Test
  void plan_noBandwidthGiven_isRefused() {
    Vm vm = vm("idle", Workload.idle());
    assertThatThrownBy(() -> Ferry.plan(vm, Bandwidth.UNLIMITED, MigrationOptions.defaults(), Duration.ofMillis(100)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("bandwidth");
  }
}
