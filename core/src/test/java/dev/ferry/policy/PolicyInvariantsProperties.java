package dev.ferry.policy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.Phase;
import dev.ferry.Progress;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Invariants of every built-in policy (and compositions of them), checked after every decision:
 * on arbitrary samples, and on whole simulated migrations where the policy's actions feed back
 * into what it sees next.
 *
 * <ul>
 *   <li>a throttle is always 0 to 99 %;
 *   <li>a downtime limit is never above the configured ceiling ({@link Progress#maxDowntime()});
 *   <li>at the last chance before the deadline, the decision ends the migration (abort, force
 *       completion, or post-copy when offered), so that it ends before the deadline, never after;
 *   <li>a simulated migration ends (completes or aborts) no later than its deadline, and one that
 *       converged paused the guest no longer than the limit.
 * </ul>
 */
class PolicyInvariantsProperties {

  static List<ConvergencePolicy> policies() {
    List<ConvergencePolicy> all = new ArrayList<>(ConvergencePolicy.builtIns().values());
    all.add(ConvergencePolicy.untilDeadline());
    all.add(ConvergencePolicy.fixedDowntime(Duration.ofSeconds(5)));
    all.add(ConvergencePolicy.novaSteps().withPermits(true, false)
        .withCompletionTimeout(Duration.ofSeconds(10), TimeoutAction.FORCE_COMPLETE));
    all.add(ConvergencePolicy.novaSteps().withPermits(false, true));
    all.add(ConvergencePolicy.kubevirtTimeouts(Duration.ofSeconds(20), Duration.ofSeconds(5), true));
    all.add(new KubevirtTimeouts(Duration.ofSeconds(20), Duration.ofSeconds(5), false, true));
    all.add(ConvergencePolicy.predictive().withPostCopy(false));
    all.add(ConvergencePolicy.predictive().withMaxThrottle(0));
    all.add(ConvergencePolicy.predictive().withDeadlineAction(TimeoutAction.FORCE_COMPLETE));
    all.add(ConvergencePolicy.firstOf(ConvergencePolicy.forceAtDeadline(), ConvergencePolicy.novaSteps(),
        ConvergencePolicy.autoConverge(), ConvergencePolicy.postCopyAfter(1, Duration.ZERO)));
    all.add(ConvergencePolicy.proportionalThrottle(0.9).then(ConvergencePolicy.autoConverge()));
    return all;
  }

  @Provide
  Arbitrary<ConvergencePolicy> policy() {
    return Arbitraries.of(policies());
  }

  @Provide
  Arbitrary<Progress> progress() {
    Arbitrary<Long> mib = Arbitraries.longs().between(1, 64 * 1024);
    Arbitrary<Long> ms = Arbitraries.longs().between(0, 3_600_000);
    Arbitrary<Integer> percent = Arbitraries.integers().between(0, 99);
    Arbitrary<Long> rate = Arbitraries.longs().between(0, 5_000_000);
    Arbitrary<Long> bw = Arbitraries.longs().between(1, 20_000_000_000L);
    Arbitrary<Boolean> bool = Arbitraries.of(true, false);
    return Combinators.combine(
        Combinators.combine(mib, mib, mib, rate, bw, ms, ms, ms).as((total, rem, ws, dirty, b, el, dl, exp) ->
            new long[] {total, rem, ws, dirty, b, el, dl, exp}),
        Combinators.combine(percent, ms, ms, Arbitraries.longs().between(0, 50), bool, bool, bool, ms)
            .as((throttle, limit, ceiling, stalled, canThrottle, canPostCopy, noDeadline, since) ->
                new Object[] {throttle, limit, ceiling, stalled, canThrottle, canPostCopy, noDeadline, since}))
        .as((a, o) -> {
          long total = a[0] << 20;
          long remaining = Math.min(total, a[1] << 20);
          Duration ceiling = Duration.ofMillis(1 + (Long) o[2] % 10_000);
          Duration limit = Duration.ofMillis(1 + (Long) o[1] % ceiling.toMillis());
          Duration deadline = (Boolean) o[6] ? Duration.ZERO : Duration.ofMillis(1 + a[6]);
          Bandwidth band = a[4] > 19_000_000_000L ? Bandwidth.UNLIMITED : Bandwidth.bytesPerSecond(a[4]);
          return new Progress(Phase.PRE_COPY, (Long) o[3] + 1, Duration.ofMillis(a[5]), DataSize.bytes(total),
              DataSize.bytes(total + remaining), DataSize.bytes(remaining), a[3], 4096,
              DataSize.bytes(Math.min(remaining, a[2] << 20)), band, Duration.ofMillis(a[7]), limit, Bandwidth.UNLIMITED,
              (Integer) o[0], deadline, ceiling, DataSize.bytes(Math.min(total, remaining * 2)), (Long) o[3],
              Duration.ofMillis(Math.min(a[5], (Long) o[7])), (Boolean) o[4], (Boolean) o[5]);
        });
  }

  @Property(tries = 3000)
  void everyDecision_keepsTheInvariants(@ForAll("policy") ConvergencePolicy policy, @ForAll("progress") Progress p) {
    Decision d = policy.decide(p);
    checkDecision(policy, p, d);
  }

  static void checkDecision(ConvergencePolicy policy, Progress p, Decision d) {
    assertThat(d).as("%s decided null", policy).isNotNull();
    for (PolicyAction a : d.actions()) {
      if (a instanceof PolicyAction.SetThrottle t) {
        assertThat(t.percent()).as("%s: throttle", policy).isBetween(0, 99);
      }
      if (a instanceof PolicyAction.SetDowntimeLimit l) {
        assertThat(l.limit()).as("%s: downtime limit over the ceiling at %s", policy, p)
            .isLessThanOrEqualTo(p.maxDowntime());
      }
    }
    if (p.lastChance()) {
      assertThat(d.actions()).as("%s at the last chance before the deadline: %s", policy, p)
          .anyMatch(a -> a instanceof PolicyAction.Abort || a instanceof PolicyAction.ForceCompletion
              || (a instanceof PolicyAction.SwitchToPostCopy && p.postCopyAvailable()));
    }
  }

  @Provide
  Arbitrary<PolicySimulator> migration() {
    Arbitrary<Long> memMib = Arbitraries.longs().between(16, 16_384);
    Arbitrary<Long> mbps = Arbitraries.longs().between(10, 2_000);
    Arbitrary<Double> dirtyRatio = Arbitraries.doubles().between(0, 4);
    Arbitrary<Double> workingShare = Arbitraries.doubles().between(0, 0.5);
    Arbitrary<Long> limitMs = Arbitraries.longs().between(10, 2_000);
    Arbitrary<Long> deadlineS = Arbitraries.longs().between(0, 600);
    Arbitrary<Boolean> bool = Arbitraries.of(true, false);
    return Combinators.combine(memMib, mbps, dirtyRatio, workingShare, limitMs, deadlineS, bool, bool)
        .as((mem, bw, ratio, share, limit, deadline, canThrottle, canPostCopy) -> {
          double m = mem * (double) (1 << 20);
          double r = bw * 1e6;
          PreCopyModel model = new PreCopyModel(m, r, share * m, ratio * r, 0, 0.002, PreCopyModel.MIN_ROUND_SECONDS);
          return new PolicySimulator(model, 4096, Duration.ofMillis(limit), Duration.ofSeconds(deadline), canThrottle,
              canPostCopy);
        });
  }

  @Property(tries = 600)
  void simulatedMigration_endsBeforeItsDeadline_andKeepsTheInvariantsAfterEveryDecision(
      @ForAll("policy") ConvergencePolicy policy, @ForAll("migration") PolicySimulator sim) {
    ConvergencePolicy checked = p -> {
      Decision d = policy.decide(p);
      checkDecision(policy, p, d);
      return d;
    };
    PolicySimulator.Run run = sim.run(checked);
    for (Progress p : run.trace()) {
      assertThat(p.downtimeLimit()).isLessThanOrEqualTo(sim.maxDowntime());
      assertThat(p.throttlePercent()).isBetween(0, 99);
    }
    // Round 0 (a full pass) comes before any decision: the guarantee starts when the policy is first asked.
    if (!sim.deadline().isZero() && run.trace().size() > 0
        && run.trace().get(0).elapsed().compareTo(sim.deadline()) <= 0) {
      // A switch to post-copy ends the migration's pre-copy at once; the rest is pushed afterwards.
      Duration end = run.ending() == PolicySimulator.Ending.POST_COPY
          ? run.trace().get(run.trace().size() - 1).elapsed() : run.total();
      assertThat(end).as("%s: %s", policy, run).isLessThanOrEqualTo(sim.deadline());
    }
    if (run.ending() == PolicySimulator.Ending.CONVERGED) {
      assertThat(run.downtime()).isLessThanOrEqualTo(sim.maxDowntime());
    }
  }

  /** The whole table of built-ins is there, under the names the scenario benchmark prints. */
  @Property(tries = 1)
  void builtIns_listsEveryBuiltInPolicy() {
    Map<String, ConvergencePolicy> m = ConvergencePolicy.builtIns();
    assertThat(m.keySet()).containsExactly("fixed-downtime", "nova-steps", "auto-converge", "proportional",
        "post-copy-after", "kubevirt", "predictive");
  }
}
