package dev.ferry.kvm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.MigrationEvent;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationSession;
import dev.ferry.Phase;
import dev.ferry.policy.ConvergencePolicy;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.VmState;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;

/**
 * Ferry's engine live-migrates a running test guest between two KVM hosts of this process, over
 * TCP on 127.0.0.1, with verification on; the assertions are on the guest's own serial output (its
 * heartbeat count continues on the destination, it never says CORRUPT). Skipped, saying why, where
 * /dev/kvm cannot be used or gcc is missing.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class KvmMigrationTest {
  private static final String CMDLINE = "mb=32 rate=8";
  private KvmHost source;
  private KvmHost destination;
  private Host a;
  private Host b;
  private final TestGuests.Serial srcSerial = new TestGuests.Serial();
  private final TestGuests.Serial dstSerial = new TestGuests.Serial();

  @BeforeEach
  void setUp(TestInfo info) {
    TestGuests.requireKvm();
    String stem = "mig-" + info.getTestMethod().orElseThrow().getName().replaceAll("[^A-Za-z0-9]", "").toLowerCase()
        .substring(0, 12);
    source = KvmHost.named(stem + "-a");
    destination = KvmHost.named(stem + "-b");
    source.addSerialListener(srcSerial);
    destination.addSerialListener(dstSerial);
    a = Ferry.connect("kvm://" + source.name());
    b = Ferry.connect("kvm://" + destination.name());
  }

  @AfterEach
  void tearDown() {
    for (AutoCloseable c : new AutoCloseable[] {a, b}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception e) {
        // best effort
      }
    }
    if (source != null) {
      source.destroy();
    }
    if (destination != null) {
      destination.destroy();
    }
  }

  private KvmVm bootGuest() throws InterruptedException {
    return bootGuest(CMDLINE);
  }

  private KvmVm bootGuest(String cmdline) throws InterruptedException {
    KvmVm vm = source.createVm(KvmVmSpec.builder("guest").memory(DataSize.mib(40)).kernel(TestGuests.testGuest())
        .cmdline(cmdline).build());
    assertThat(srcSerial.await("HB n=2 ", 0, 20_000)).as("source heartbeat before migrating; serial: %s",
        srcSerial.lines()).isPresent();
    return vm;
  }

  @Test
  void migrate_runningGuest_heartbeatContinuesOnDestinationWithoutCorrupt() throws Exception {
    KvmVm vm = bootGuest();
    MigrationSession s = a.migrate(a.vm("guest"), b.target(), MigrationOptions.builder()
        .maxDowntime(Duration.ofMillis(300))
        .deadline(Duration.ofSeconds(60))
        .verify(true)
        .build());
    MigrationResult r = s.completion().get(90, TimeUnit.SECONDS);
    assertThat(r.outcome()).as("result %s", r).isEqualTo(MigrationResult.Outcome.COMPLETED);
    assertThat(r.verified()).as("memory digests compared at switchover").isTrue();
    System.out.printf("kvm migration (%s, 40 MiB RAM): %s in %d ms, downtime %s, %d rounds, %d pages, %,d bytes on the wire%n",
        CMDLINE, r.outcome(), r.totalTime().toMillis(), r.downtimeText(), r.roundCount(), r.pagesSent(), r.bytesOnWire());
    for (var round : r.rounds()) {
      System.out.println("  " + round);
    }
    List<Long> before = srcSerial.heartbeats();
    assertThat(vm.state()).isEqualTo(VmState.STOPPED);
    assertThat(source.vm("guest")).isEmpty();
    KvmVm moved = destination.vm("guest").orElseThrow();
    assertThat(moved.state()).isEqualTo(VmState.RUNNING);
    assertThat(dstSerial.await("HB ", 0, 10_000)).as("a heartbeat on the destination").isPresent();
    int first = dstSerial.lines().size();
    assertThat(dstSerial.await("HB ", first, 10_000)).as("a second heartbeat on the destination").isPresent();
    List<Long> after = dstSerial.heartbeats();
    long last = before.get(before.size() - 1);
    assertThat(after.get(0)).as("the destination's first heartbeat follows the source's last (%d)", last)
        .isEqualTo(last + 1);
    for (int i = 1; i < after.size(); i++) {
      assertThat(after.get(i)).isEqualTo(after.get(i - 1) + 1);
    }
    assertThat(srcSerial.sawCorrupt()).as("source serial: %s", srcSerial.lines()).isFalse();
    assertThat(dstSerial.sawCorrupt()).as("destination serial: %s", dstSerial.lines()).isFalse();
    assertThat(moved.failure()).isEmpty();
    assertThat(dstSerial.lines()).noneMatch(l -> l.startsWith("FERRY-GUEST start"));
  }

  @Test
  void cancel_midRound_guestKeepsRunningOnSource() throws Exception {
    KvmVm vm = bootGuest();
    CountDownLatch preCopy = new CountDownLatch(1);
    MigrationSession s = a.migrate(a.vm("guest"), b.target(), MigrationOptions.builder()
        .bandwidthLimit(Bandwidth.mbps(10))
        .deadline(Duration.ofSeconds(60))
        .verify(true)
        .listener(e -> {
          if (e instanceof MigrationEvent.PhaseChanged && ((MigrationEvent.PhaseChanged) e).to() == Phase.PRE_COPY) {
            preCopy.countDown();
          }
        })
        .build());
    assertThat(preCopy.await(30, TimeUnit.SECONDS)).as("pre-copy started").isTrue();
    Thread.sleep(500);                              // into round 0: 32 MiB at 10 MB/s takes about 3 s
    assertThat(s.phase()).isEqualTo(Phase.PRE_COPY);
    assertThat(s.cancel()).isTrue();
    MigrationResult r = s.completion().get(30, TimeUnit.SECONDS);
    assertThat(r.outcome()).as("result %s", r).isEqualTo(MigrationResult.Outcome.CANCELLED);
    assertThat(vm.state()).isEqualTo(VmState.RUNNING);
    int n = srcSerial.lines().size();
    assertThat(srcSerial.await("HB ", n, 5_000)).as("heartbeat on the source after the cancel").isPresent();
    int m = srcSerial.lines().size();
    assertThat(srcSerial.await("HB ", m, 5_000)).as("and another").isPresent();
    List<Long> hb = srcSerial.heartbeats();
    for (int i = 1; i < hb.size(); i++) {
      assertThat(hb.get(i)).isEqualTo(hb.get(i - 1) + 1);
    }
    assertThat(srcSerial.sawCorrupt()).isFalse();
    assertThat(destination.vms()).as("the destination holds nothing").isEmpty();
    assertThat(dstSerial.lines()).isEmpty();
    assertThat(vm.dirtyLog().orElseThrow().isActive()).as("dirty logging off after the cancel").isFalse();
  }

  /**
   * Post-copy into a KVM host (userfaultfd): switched to in round 0 under a 10 MB/s cap, the guest
   * resumes on the destination with most pages missing, blocks on them as it touches them, and the
   * engine fetches and pushes the rest. The guest checks every page's generation on its next pass,
   * so a page that arrived stale or not at all would print CORRUPT.
   */
  @Test
  void switchToPostCopy_midRound_guestRunsOnDestinationAndAllPagesArrive() throws Exception {
    bootGuest();
    CountDownLatch preCopy = new CountDownLatch(1);
    MigrationSession s = a.migrate(a.vm("guest"), b.target(), MigrationOptions.builder()
        .allowPostCopy(true)
        .bandwidthLimit(Bandwidth.mbps(10))
        .deadline(Duration.ofSeconds(60))
        .verify(true)
        .listener(e -> {
          if (e instanceof MigrationEvent.PhaseChanged && ((MigrationEvent.PhaseChanged) e).to() == Phase.PRE_COPY) {
            preCopy.countDown();
          }
        })
        .build());
    assertThat(preCopy.await(30, TimeUnit.SECONDS)).isTrue();
    Thread.sleep(500);
    assertThat(s.switchToPostCopy()).as("a switch to post-copy into a KVM host").isTrue();
    MigrationResult r = s.completion().get(90, TimeUnit.SECONDS);
    System.out.printf("post-copy kvm migration: %s in %d ms, downtime %s, %d rounds, %s%n", r.outcome(),
        r.totalTime().toMillis(), r.downtimeText(), r.roundCount(), r.postCopy().map(Object::toString).orElse("-"));
    assertThat(r.outcome()).as("result %s", r).isEqualTo(MigrationResult.Outcome.COMPLETED);
    assertThat(r.postCopy()).as("post-copy statistics").isPresent();
    List<Long> before = srcSerial.heartbeats();
    assertThat(dstSerial.await("HB ", 0, 10_000)).as("a heartbeat on the destination").isPresent();
    // Let the guest finish a pass over its region (32 MiB at 8 MiB/s) so every page is checked.
    Thread.sleep(5_000);
    List<Long> after = dstSerial.heartbeats();
    assertThat(after.get(0)).isEqualTo(before.get(before.size() - 1) + 1);
    for (int i = 1; i < after.size(); i++) {
      assertThat(after.get(i)).isEqualTo(after.get(i - 1) + 1);
    }
    assertThat(srcSerial.sawCorrupt()).isFalse();
    assertThat(dstSerial.sawCorrupt()).as("destination serial: %s", dstSerial.lines()).isFalse();
    assertThat(destination.vm("guest").orElseThrow().failure()).isEmpty();
  }

  /**
   * The guest rewrites its 32 MiB region at 16 MiB/s, twice what the 8 MB/s cap moves: pre-copy
   * alone diverges, so the predictive policy throttles the vCPU (this guest paces its writes by the
   * TSC, so only a deep throttle slows it: measured, 73 % left its rate unchanged, 99 % cut it to a
   * quarter) until a stop-and-copy fits the downtime limit.
   */
  @Test
  void migrate_guestDirtyingFasterThanTheCap_convergesByThrottleUnderThePredictivePolicy() throws Exception {
    bootGuest("mb=32 rate=16");
    MigrationSession s = a.migrate(a.vm("guest"), b.target(), MigrationOptions.builder()
        .bandwidthLimit(Bandwidth.mbps(8))
        .maxDowntime(Duration.ofMillis(300))
        .deadline(Duration.ofSeconds(60))
        .policy(ConvergencePolicy.predictive())
        .verify(true)
        .build());
    MigrationResult r = s.completion().get(90, TimeUnit.SECONDS);
    System.out.printf("dirtying faster than the cap: %s in %d ms, downtime %s, %d rounds, throttle %s%n", r.outcome(),
        r.totalTime().toMillis(), r.downtimeText(), r.roundCount(),
        r.rounds().stream().map(x -> x.throttlePercent() + "%").toList());
    assertThat(r.outcome()).as("result %s", r).isEqualTo(MigrationResult.Outcome.COMPLETED);
    assertThat(r.verified()).isTrue();
    assertThat(r.rounds()).as("rounds").anyMatch(x -> x.throttlePercent() > 0);
    assertThat(r.actions()).anyMatch(x -> x.startsWith("throttle"));
    List<Long> before = srcSerial.heartbeats();
    assertThat(dstSerial.await("HB ", 0, 10_000)).as("a heartbeat on the destination").isPresent();
    assertThat(dstSerial.heartbeats().get(0)).isEqualTo(before.get(before.size() - 1) + 1);
    assertThat(srcSerial.sawCorrupt()).isFalse();
    assertThat(dstSerial.sawCorrupt()).as("destination serial: %s", dstSerial.lines()).isFalse();
  }

  /** The same guest under a policy that only aborts at the deadline: it rolls back, the source runs on. */
  @Test
  void migrate_guestDirtyingFasterThanTheCap_abortingPolicyRollsBackAndSourceRuns() throws Exception {
    KvmVm vm = bootGuest("mb=16 rate=16");
    MigrationSession s = a.migrate(a.vm("guest"), b.target(), MigrationOptions.builder()
        .bandwidthLimit(Bandwidth.mbps(8))
        .maxDowntime(Duration.ofMillis(300))
        .deadline(Duration.ofSeconds(6))
        .policy(ConvergencePolicy.abortAtDeadline())
        .verify(true)
        .build());
    MigrationResult r = s.completion().get(60, TimeUnit.SECONDS);
    System.out.printf("aborting policy: %s after %d ms, %d rounds: %s%n", r.outcome(), r.totalTime().toMillis(),
        r.roundCount(), r.cause().map(Throwable::getMessage).orElse(""));
    assertThat(r.outcome()).as("result %s", r).isEqualTo(MigrationResult.Outcome.ROLLED_BACK);
    assertThat(vm.state()).isEqualTo(VmState.RUNNING);
    assertThat(vm.throttle().orElseThrow().percent()).isZero();
    int n = srcSerial.lines().size();
    assertThat(srcSerial.await("HB ", n, 5_000)).as("heartbeat on the source after the rollback").isPresent();
    List<Long> hb = srcSerial.heartbeats();
    for (int i = 1; i < hb.size(); i++) {
      assertThat(hb.get(i)).isEqualTo(hb.get(i - 1) + 1);
    }
    assertThat(srcSerial.sawCorrupt()).isFalse();
    assertThat(destination.vms()).isEmpty();
  }
}
