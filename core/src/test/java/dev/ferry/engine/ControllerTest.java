package dev.ferry.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.MigrationEvent;
import dev.ferry.MigrationOptions;
import dev.ferry.Phase;
import dev.ferry.Progress;
import dev.ferry.policy.ConvergencePolicy;
import dev.ferry.policy.Decision;
import dev.ferry.policy.PolicyAction;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.VmId;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

/**
 * The shared control loop on made-up samples and a fake clock: no migration, no sleep. The fuzz
 * test at the end checks its invariants after every decision of random policies on random traces.
 */
class ControllerTest {
  private static final Duration MAX = Duration.ofMillis(300);

  /** A plane that records what it was asked and can refuse post-copy and throttling. */
  static final class Plane implements Controller.Plane {
    final List<String> calls = new ArrayList<>();
    String postCopyRefusal = "not allowed";
    boolean canThrottle = true;

    @Override
    public String setDowntimeLimit(Duration limit) {
      calls.add("downtime " + limit.toMillis());
      return "downtime limit " + limit.toMillis() + " ms";
    }

    @Override
    public String setBandwidth(Bandwidth limit) {
      calls.add("bandwidth");
      return "bandwidth " + limit;
    }

    @Override
    public String setThrottle(int percent) {
      calls.add("throttle " + percent);
      return canThrottle ? "throttle " + percent + " %" : "throttle " + percent + " % refused: no throttle";
    }

    @Override
    public String postCopyRefusal() {
      return postCopyRefusal;
    }

    @Override
    public String switchToPostCopy() {
      calls.add("post-copy");
      return "switch to post-copy";
    }

    @Override
    public String forceCompletion() {
      calls.add("force");
      return "force completion";
    }
  }

  private final FakeTicker ticker = new FakeTicker();
  private final List<MigrationEvent> events = new ArrayList<>();
  private final Plane plane = new Plane();

  private Controller controller(ConvergencePolicy policy, Duration deadline) {
    MigrationOptions o = MigrationOptions.builder().maxDowntime(MAX).deadline(deadline).policy(policy)
        .ticker(ticker).build();
    Session s = new Session(new VmId("vm"), ticker, sample(0, 100, 1000, Duration.ZERO, deadline));
    s.addListener(events::add);
    return new Controller(o, s, plane);
  }

  private static Progress sample(long round, long remainingMib, long expectedMs, Duration elapsed, Duration deadline) {
    return new Progress(Phase.PRE_COPY, round, elapsed, DataSize.gib(1), DataSize.gib(1), DataSize.mib(remainingMib),
        1000, 4096, DataSize.ZERO, Bandwidth.mbps(100), Duration.ofMillis(expectedMs), MAX, Bandwidth.UNLIMITED, 0,
        deadline, MAX, DataSize.mib(remainingMib), 0, Duration.ZERO, true, false);
  }

  private List<MigrationEvent.Decision> decisions() {
    return events.stream().filter(MigrationEvent.Decision.class::isInstance).map(MigrationEvent.Decision.class::cast)
        .toList();
  }

  @Test
  void decide_expectedDowntimeFits_switchesOverWithoutAskingThePolicy() {
    AtomicInteger asked = new AtomicInteger();
    Controller c = controller(p -> {
      asked.incrementAndGet();
      return Decision.keepGoing();
    }, Duration.ofMinutes(1));
    assertThat(c.decide(sample(1, 10, 200, Duration.ofSeconds(1), Duration.ofMinutes(1)), true).kind())
        .isEqualTo(Controller.Kind.SWITCH_OVER);
    assertThat(asked).hasValue(0);
  }

  @Test
  void decide_deadlinePassedAndPolicyQuiet_abortsSayingSo() {
    Controller c = controller(p -> Decision.keepGoing(), Duration.ofSeconds(20));
    Controller.Verdict v = c.decide(sample(4, 100, 900, Duration.ofSeconds(21), Duration.ofSeconds(20)), true);
    assertThat(v.kind()).isEqualTo(Controller.Kind.ABORT);
    assertThat(v.cause().getMessage()).contains("deadline of 20000 ms passed").contains("expected downtime 900 ms");
    assertThat(c.actions()).anyMatch(a -> a.startsWith("abort: the deadline passed"));
  }

  @Test
  void decide_deadlinePassedMidRound_abortsEvenWithoutAskingThePolicy() {
    AtomicInteger asked = new AtomicInteger();
    Controller c = controller(p -> {
      asked.incrementAndGet();
      return Decision.keepGoing();
    }, Duration.ofSeconds(20));
    Controller.Verdict v = c.decide(sample(4, 100, 900, Duration.ofSeconds(21), Duration.ofSeconds(20)), false);
    assertThat(v.kind()).isEqualTo(Controller.Kind.ABORT);
    assertThat(asked).hasValue(0);
  }

  @Test
  void decide_policyRaisesTheLimitAboveTheMaximum_isCappedAndSaysSo() {
    Controller c = controller(p -> Decision.of("step", new PolicyAction.SetDowntimeLimit(Duration.ofSeconds(5))),
        Duration.ofMinutes(1));
    c.decide(sample(1, 100, 900, Duration.ofSeconds(1), Duration.ofMinutes(1)), true);
    assertThat(plane.calls).containsExactly("downtime 300");
    assertThat(c.downtimeLimit()).isEqualTo(MAX);
    assertThat(c.actions()).singleElement().asString().contains("5000 ms asked, capped at the max downtime");
  }

  @Test
  void decide_postCopyTheDestinationRefuses_saysWhyAndCarriesOn() {
    Controller c = controller(p -> Decision.of("late", new PolicyAction.SwitchToPostCopy()), Duration.ofMinutes(1));
    plane.postCopyRefusal = "the destination cannot run a guest with pages missing";
    Controller.Verdict v = c.decide(sample(1, 100, 900, Duration.ofSeconds(1), Duration.ofMinutes(1)), true);
    assertThat(v.kind()).isEqualTo(Controller.Kind.CONTINUE);
    assertThat(plane.calls).doesNotContain("post-copy");
    assertThat(c.actions()).singleElement().asString().startsWith("post-copy refused: the destination cannot");
  }

  @Test
  void decide_forceThenAbortInOneDecision_theFirstEndWinsAndTheSecondIsNamedIgnored() {
    Controller c = controller(p -> Decision.of("both", new PolicyAction.ForceCompletion(),
        new PolicyAction.Abort("give up")), Duration.ofMinutes(1));
    Controller.Verdict v = c.decide(sample(1, 100, 900, Duration.ofSeconds(1), Duration.ofMinutes(1)), true);
    assertThat(v.kind()).isEqualTo(Controller.Kind.FORCE);
    assertThat(c.actions()).anyMatch(a -> a.startsWith("abort (give up) ignored: force was decided first"));
  }

  @Test
  void decide_applicationAskedForPostCopy_comesBeforeThePolicy() {
    AtomicInteger asked = new AtomicInteger();
    MigrationOptions o = MigrationOptions.builder().maxDowntime(MAX).policy(p -> {
      asked.incrementAndGet();
      return Decision.keepGoing();
    }).ticker(ticker).allowPostCopy(true).build();
    Session s = new Session(new VmId("vm"), ticker, sample(0, 100, 1000, Duration.ZERO, Duration.ZERO));
    s.phase(Phase.PRE_COPY);
    plane.postCopyRefusal = null;
    s.postCopyPossible(() -> true);
    Controller c = new Controller(o, s, plane);
    assertThat(s.switchToPostCopy()).isTrue();
    assertThat(c.decide(sample(1, 100, 900, Duration.ofSeconds(1), Duration.ZERO), true).kind())
        .isEqualTo(Controller.Kind.POST_COPY);
    assertThat(asked).hasValue(0);
    assertThat(c.actions()).singleElement().asString().contains("asked for by the application");
  }

  @Test
  void roundEnded_threeRoundsWithoutProgress_reportOneStall_onTheFakeClock() {
    Controller c = controller(p -> Decision.keepGoing(), Duration.ZERO);
    long[] remaining = {400, 200, 190, 210, 220, 200};
    for (int r = 0; r < remaining.length; r++) {
      ticker.advance(Duration.ofSeconds(1));
      c.roundEnded(r, remaining[r] << 20, ticker.read());
      c.afterRound();
    }
    assertThat(c.stalledRounds()).isEqualTo(4);
    assertThat(c.sinceProgress(ticker.read())).isEqualTo(Duration.ofSeconds(4));
    List<MigrationEvent.Decision> stalls = decisions().stream().filter(d -> d.reason().startsWith("pre-copy stalled"))
        .toList();
    assertThat(stalls).hasSize(1);
    assertThat(stalls.get(0).actions()).isEmpty();
    ticker.advance(Duration.ofSeconds(1));
    c.roundEnded(6, 100L << 20, ticker.read());
    assertThat(c.stalledRounds()).isZero();
    assertThat(c.stalled()).isFalse();
    assertThat(c.sinceProgress(ticker.read())).isZero();
  }

  // ---------------------------------------------------------------- fuzz

  @Provide
  Arbitrary<List<Integer>> scripts() {
    return Arbitraries.integers().between(0, 1_000_000).list().ofMinSize(1).ofMaxSize(60);
  }

  /**
   * Random policies (every action, in random combinations) on random traces, with the clock passing
   * the deadline at a random point. After every decision: the limit never exceeds the user's
   * maximum; post-copy is never taken while the plane refuses it; an abort comes only from the
   * policy or a passed deadline, and a passed deadline always ends pre-copy; the trend counters
   * stay consistent.
   */
  @Property(tries = 300)
  void decide_randomPoliciesOnRandomTraces_keepTheInvariants(@ForAll("scripts") List<Integer> script) {
    AtomicReference<Decision> next = new AtomicReference<>(Decision.keepGoing());
    Duration deadline = Duration.ofSeconds(30);
    Controller c = controller(p -> next.get(), deadline);
    plane.postCopyRefusal = script.get(0) % 2 == 0 ? null : "not allowed";
    long elapsedMs = 0;
    for (int i = 0; i < script.size(); i++) {
      int x = script.get(i);
      elapsedMs += x % 4000;
      long remaining = 1 + x % 500;
      List<PolicyAction> actions = new ArrayList<>();
      if ((x & 1) != 0) {
        actions.add(new PolicyAction.SetDowntimeLimit(Duration.ofMillis(1 + x % 2000)));
      }
      if ((x & 2) != 0) {
        actions.add(new PolicyAction.SetThrottle(x % 100));
      }
      if ((x & 4) != 0) {
        actions.add(new PolicyAction.SwitchToPostCopy());
      }
      if ((x & 8) != 0 && (x & 16) != 0) {
        actions.add(new PolicyAction.ForceCompletion());
      }
      if ((x & 32) != 0 && (x & 64) != 0 && (x & 128) != 0) {
        actions.add(new PolicyAction.Abort("random abort"));
      }
      next.set(new Decision(actions, "random " + i));
      c.roundEnded(i, remaining << 20, ticker.read());
      Progress p = sample(i, remaining, 301 + x % 5000, Duration.ofMillis(elapsedMs), deadline);
      int callsBefore = plane.calls.size();
      Controller.Verdict v = c.decide(p, true);
      assertThat(c.downtimeLimit()).isLessThanOrEqualTo(MAX);
      if (plane.postCopyRefusal != null) {
        assertThat(plane.calls.subList(callsBefore, plane.calls.size())).doesNotContain("post-copy");
        assertThat(v.kind()).isNotEqualTo(Controller.Kind.POST_COPY);
      }
      boolean policyAborted = actions.stream().anyMatch(a -> a instanceof PolicyAction.Abort);
      if (v.kind() == Controller.Kind.ABORT) {
        assertThat(policyAborted || p.pastDeadline()).isTrue();
      }
      if (p.pastDeadline()) {
        assertThat(v.endsPreCopy()).as("a passed deadline ends pre-copy").isTrue();
      }
      assertThat(c.stalledRounds()).isBetween(0L, (long) i);
      if (v.endsPreCopy()) {
        return;
      }
    }
  }
}
