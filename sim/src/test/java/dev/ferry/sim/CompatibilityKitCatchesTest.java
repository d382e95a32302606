package dev.ferry.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;

import dev.ferry.spi.HostDriver;
import dev.ferry.spi.VmDriver;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

/**
 * The compatibility kit's tests run against deliberately broken backends, to see that they fail:
 * a kit test that passes whatever the backend does proves nothing. Each runs one kit test through
 * the JUnit Platform launcher, against the sim and against the sim with a fault armed.
 */
class CompatibilityKitCatchesTest {
  private static final String COPY_CHECK = "dirtyLog_pagesCopiedAfterTheSyncsThatReportedThem_equalMemoryAfterTheFinalSync";

  /** The sim whose vCPUs mark a page dirty before they write it ({@link SimFaults#markBeforeWrite}). */
  static class MarkBeforeWriteSim extends SimCompatibilityTest {
    private final List<SimHost> broken = new ArrayList<>();

    @Override
    protected VmDriver createBusyVm(HostDriver host, String name) {
      SimHost h = SimHost.of(host);
      h.faults().markBeforeWrite(true);
      broken.add(h);
      return super.createBusyVm(host, name);
    }

    @AfterEach
    void repair() {
      for (SimHost h : broken) {
        h.faults().markBeforeWrite(false);
      }
    }
  }

  @Test
  void dirtyLogCopyCheck_failsForABackendThatMarksBeforeItWrites() {
    List<TestExecutionResult> results = run(MarkBeforeWriteSim.class, COPY_CHECK);
    assertThat(results).hasSize(1);
    assertThat(results.get(0).getStatus()).as("the kit's verdict on a sim that marks before it writes")
        .isEqualTo(TestExecutionResult.Status.FAILED);
    assertThat(results.get(0).getThrowable().orElseThrow().getMessage())
        .contains("differ from the copy kept by").contains("lost writes");
  }

  @Test
  void dirtyLogCopyCheck_passesForTheSim() {
    List<TestExecutionResult> results = run(SimCompatibilityTest.class, COPY_CHECK);
    assertThat(results).hasSize(1);
    assertThat(results.get(0).getStatus()).as("the kit's verdict on the sim: %s", results.get(0).getThrowable())
        .isEqualTo(TestExecutionResult.Status.SUCCESSFUL);
  }

  /** Runs one test method of {@code kit} and returns the results of the tests (not containers) that ran. */
  private static List<TestExecutionResult> run(Class<?> kit, String method) {
    LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
        .selectors(selectMethod(kit, method)).build();
    List<TestExecutionResult> results = new ArrayList<>();
    LauncherFactory.create().execute(request, new TestExecutionListener() {
      @Override
      public void executionFinished(TestIdentifier id, TestExecutionResult result) {
        if (id.isTest()) {
          results.add(result);
        }
      }
    });
    return results;
  }
}
