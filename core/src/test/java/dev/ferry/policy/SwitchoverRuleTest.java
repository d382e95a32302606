package dev.ferry.policy;

import static dev.ferry.policy.Sample.sample;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.Progress;
import dev.ferry.spi.DataSize;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class SwitchoverRuleTest {
  private static Progress fitting(long expectedMs, long limitMs) {
    return sample().expectedDowntime(Duration.ofMillis(expectedMs)).limit(Duration.ofMillis(limitMs))
        .maxDowntime(Duration.ofMillis(limitMs)).elapsed(Duration.ofSeconds(3)).build();
  }

  @Test
  void switchNow_withinHalfTheLimit_beginsAtOnce() {
    assertThat(SwitchoverRule.switchNow(fitting(150, 300), null)).isTrue();
    assertThat(SwitchoverRule.switchNow(fitting(20, 300), Duration.ofMillis(25))).isTrue();
  }

  @Test
  void switchNow_overHalfTheLimitAtTheFirstFit_waitsOneMoreRound() {
    // 171 ms of 300: what the engine once paused 350 ms on, with a busy machine.
    assertThat(SwitchoverRule.switchNow(fitting(171, 300), null)).isFalse();
    assertThat(SwitchoverRule.whyWait(fitting(171, 300))).contains("171 ms", "300 ms limit", "one more round");
  }

  @Test
  void switchNow_whileARoundStillShrinksTheExpectation_waits_andBeginsOnceItStops() {
    assertThat(SwitchoverRule.switchNow(fitting(200, 300), Duration.ofMillis(290))).as("cut to 69 %").isFalse();
    assertThat(SwitchoverRule.switchNow(fitting(210, 300), Duration.ofMillis(290))).as("cut to 72 %").isTrue();
    assertThat(SwitchoverRule.switchNow(fitting(250, 300), Duration.ofMillis(200))).as("grew").isTrue();
  }

  @Test
  void switchNow_theDeadlineTooCloseForAnotherRound_beginsNow() {
    Progress near = sample().expectedDowntime(Duration.ofMillis(200)).limit(Duration.ofMillis(300))
        .maxDowntime(Duration.ofMillis(300)).elapsed(Duration.ofMillis(9_500)).deadline(Duration.ofSeconds(10)).build();
    assertThat(SwitchoverRule.switchNow(near, null)).isTrue();
    Progress far = sample().expectedDowntime(Duration.ofMillis(200)).limit(Duration.ofMillis(300))
        .maxDowntime(Duration.ofMillis(300)).elapsed(Duration.ofSeconds(1)).deadline(Duration.ofSeconds(10)).build();
    assertThat(SwitchoverRule.switchNow(far, null)).isFalse();
  }

  @Test
  void simulator_waitsTheSameRoundsAsTheRule_andEndsUnderHalfTheLimit() {
    // 1 GiB at 500 MB/s, 250 MB/s of dirtying: each round leaves half of what it sent. Round 2 leaves
    // 134 MB, 273 ms expected: fits 300 ms, over half of it, so round 3 goes first (139 ms expected).
    PreCopyModel model = new PreCopyModel(DataSize.gib(1).bytes(), 500e6, 0, 250e6, 0, 0.005,
        PreCopyModel.MIN_ROUND_SECONDS);
    PolicySimulator sim = new PolicySimulator(model, 4096, Duration.ofMillis(300), Duration.ofMinutes(1), true, false);
    PolicySimulator.Run run = sim.run(ConvergencePolicy.fixedDowntime());
    Progress firstFit = run.trace().stream().filter(Progress::fitsDowntime).findFirst().orElseThrow();
    assertThat(firstFit.expectedDowntime()).isBetween(Duration.ofMillis(151), Duration.ofMillis(300));
    assertThat(SwitchoverRule.switchNow(firstFit, null)).isFalse();
    assertThat(run.ending()).isEqualTo(PolicySimulator.Ending.CONVERGED);
    assertThat(run.rounds()).as("the round after the first that fitted, then stop-and-copy").isEqualTo(firstFit.round() + 2);
    assertThat(run.downtime()).isLessThanOrEqualTo(Duration.ofMillis(150));
  }
}
