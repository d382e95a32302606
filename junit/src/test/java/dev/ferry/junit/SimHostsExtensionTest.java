package dev.ferry.junit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import dev.ferry.MigrationOptions;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.MigrationTarget;
import dev.ferry.sim.FaultyLink;
import dev.ferry.policy.ConvergencePolicy;
import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimVm;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.VmState;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIf;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * The extension as a user meets it (this class is annotated), and as a user who breaks its rules
 * meets it: the static nested classes below are run through the JUnit Platform launcher, never by
 * the build itself, and must fail or pass as the extension decides.
 */
@FerrySimHosts(prefix = "ext")
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SimHostsExtensionTest {
  private static final Set<String> SEEN = ConcurrentHashMap.newKeySet();
  private SimHosts fromBeforeEach;

  @BeforeEach
  void setUp(SimHosts hosts) {
    fromBeforeEach = hosts;
  }

  private static SimVm vm(SimHosts hosts, String name, Workload w) {
    return hosts.source().createVm(SimVmSpec.builder(name).memory(DataSize.mib(8)).vcpus(1).workload(w).build());
  }

  @Test
  void parameter_inBeforeEachAndTest_isTheSamePairOfFreshHostsWithALoopbackReceiver(SimHosts hosts) {
    assertThat(hosts).isSameAs(fromBeforeEach);
    assertThat(hosts.source().name()).startsWith("ext-src-");
    assertThat(hosts.destination().name()).startsWith("ext-dst-");
    assertThat(SEEN.add(hosts.source().name())).as("hosts not shared with another test").isTrue();
    assertThat(SEEN.add(hosts.destination().name())).isTrue();
    assertThat(hosts.source().vms()).isEmpty();
    assertThat(hosts.destination().vms()).isEmpty();
    assertThat(hosts.receiver().address().getAddress().isLoopbackAddress()).isTrue();
    assertThat(hosts.target().address()).isEqualTo(hosts.receiver().address());
  }

  @Test
  void parameter_inAnotherTest_isAnotherPair(SimHosts hosts) {
    assertThat(SEEN.add(hosts.source().name())).as("hosts not shared with another test").isTrue();
    assertThat(SEEN.add(hosts.destination().name())).isTrue();
  }

  @Test
  void migrate_busyVm_completesAndVerifyFindsNothing(SimHosts hosts) throws Exception {
    vm(hosts, "web-1", Workload.uniform(2000));
    MigrationResult r = hosts.migrate("web-1", MigrationOptions.builder().deadline(Duration.ofSeconds(30)).build())
        .completion().get(40, TimeUnit.SECONDS);
    assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.COMPLETED);
    assertThat(hosts.destination().vm("web-1").orElseThrow().state()).isEqualTo(VmState.RUNNING);
    assertThat(hosts.source().vm("web-1")).isEmpty();
    assertThat(hosts.verify()).isEmpty();
  }

  @Test
  void faultyLink_cutInRound0_rollsBackAndVerifyFindsTheVmOnTheSourceAlone(SimHosts hosts) throws Exception {
    vm(hosts, "cut-1", Workload.uniform(2000)).fillRandom(1);
    FaultyLink link = hosts.faultyLink().cutAfter(DataSize.mib(2).bytes());
    MigrationResult r = hosts.migrate("cut-1", new MigrationTarget(link.address(), ""),
        MigrationOptions.builder().deadline(Duration.ofSeconds(30)).build()).completion().get(40, TimeUnit.SECONDS);
    assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.FAILED);
    assertThat(hosts.source().vm("cut-1").orElseThrow().state()).isEqualTo(VmState.RUNNING);
    assertThat(hosts.verify()).isEmpty();
  }

  // ---- run through the launcher ----

  private static final List<String> NAMES = new ArrayList<>();

  private static volatile boolean launched;

  /** Whether a test of this class runs the nested class now: they run only so, not in the build. */
  static boolean launched() {
    return launched;
  }

  private static TestExecutionSummary run(Class<?> testClass) {
    LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request().selectors(selectClass(testClass))
        .build();
    Launcher launcher = LauncherFactory.create();
    SummaryGeneratingListener listener = new SummaryGeneratingListener();
    launched = true;
    try {
      launcher.execute(request, listener);
    } finally {
      launched = false;
    }
    return listener.getSummary();
  }

  private static String failure(TestExecutionSummary s) {
    java.io.StringWriter w = new java.io.StringWriter();
    s.printTo(new java.io.PrintWriter(w));
    assertThat(s.getFailures()).as("%s", w).hasSize(1);
    return s.getFailures().get(0).getException().getMessage();
  }

  /** Starts a migration that cannot converge before the deadline and does not wait for it. */
  @FerrySimHosts(prefix = "leave-running", settleMillis = 300)
  @EnabledIf("dev.ferry.junit.SimHostsExtensionTest#launched")
  static class LeavesASessionRunning {
    @Test
    void startsAndReturns(SimHosts hosts) {
      synchronized (NAMES) {
        NAMES.add(hosts.source().name());
        NAMES.add(hosts.destination().name());
      }
      vm(hosts, "slow", Workload.uniform(5000));
      hosts.migrate("slow", MigrationOptions.builder().maxDowntime(Duration.ofNanos(1))
          .bandwidthLimit(Bandwidth.mbps(8)).policy(ConvergencePolicy.untilDeadline())
          .deadline(Duration.ofMinutes(5)).build());
    }
  }

  @Test
  void afterEach_testLeavesASessionRunning_failsTheTestCancelsItAndFreesTheHosts() {
    TestExecutionSummary s = run(LeavesASessionRunning.class);
    assertThat(s.getTestsStartedCount()).isEqualTo(1);
    assertThat(failure(s)).contains("the migration of slow was still running after the test")
        .contains("it was cancelled");
    synchronized (NAMES) {
      assertThat(NAMES).hasSize(2).allSatisfy(n -> assertThat(SimHost.get(n)).as("host %s freed", n).isEmpty());
    }
  }

  /** Leaves an incoming VM on the destination, as a receiver that never discarded its copy would. */
  @FerrySimHosts(prefix = "leak-incoming", settleMillis = 200)
  @EnabledIf("dev.ferry.junit.SimHostsExtensionTest#launched")
  static class LeaksAnIncomingVm {
    @Test
    void prepareAndForget(SimHosts hosts) {
      SimVm vm = vm(hosts, "ghost", Workload.idle());
      hosts.destination().prepareIncoming(vm.description());
    }
  }

  @Test
  void afterEach_testLeavesAnIncomingVm_failsTheTestNamingIt() {
    TestExecutionSummary s = run(LeaksAnIncomingVm.class);
    assertThat(s.getTestsStartedCount()).isEqualTo(1);
    assertThat(failure(s)).contains("the destination still held incoming VM(s): [ghost]");
  }

  /** Migrates and waits, as a test should. */
  @FerrySimHosts(prefix = "well-behaved")
  @EnabledIf("dev.ferry.junit.SimHostsExtensionTest#launched")
  static class WellBehaved {
    @Test
    void migratesAndWaits(SimHosts hosts) throws Exception {
      vm(hosts, "ok", Workload.idle());
      hosts.migrate("ok", MigrationOptions.defaults()).completion().get(30, TimeUnit.SECONDS);
    }
  }

  @Test
  void afterEach_testThatWaitsForItsMigration_passes() {
    TestExecutionSummary s = run(WellBehaved.class);
    assertThat(s.getTestsSucceededCount()).as("failures: %s", s.getFailures()).isEqualTo(1);
    assertThat(s.getTotalFailureCount()).isZero();
  }
}
