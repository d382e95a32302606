package dev.ferry.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.GuestLostException;
import dev.ferry.MigrationEvent;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationReceiver;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.MigrationSession;
import dev.ferry.MigrationTarget;
import dev.ferry.Phase;
import dev.ferry.PostCopyStats;
import dev.ferry.policy.ConvergencePolicy;
import dev.ferry.policy.Decision;
import dev.ferry.policy.PolicyAction;
import dev.ferry.sim.FaultyLink;
import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimVm;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.GuestMemory;
import dev.ferry.spi.VmState;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Post-copy between two simulated hosts over real TCP on 127.0.0.1, with a guest that dirties
 * memory far faster than the link moves it.
 *
 * <p>How "nothing was lost" is checked while the guest keeps running on the destination: the source
 * memory is filled with random bytes and copied at the moment of the pause; a sim vCPU only ever
 * writes its own 32-byte slot at the start of a page; so at the end every page of the destination,
 * beyond the vCPUs' slots, must equal the source's copy byte for byte. A page that never arrived,
 * arrived stale or was overwritten by a late copy would differ. That comparison is blind to a stale
 * copy of a page (every copy of a page agrees beyond the slots), so the slots are checked too: each
 * sim write stamps its vCPU's slot with the vCPU's tag and write count, and
 * {@link SimVm#checkStamps} replays the seeded workload to know which write each slot must show.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class PostCopyEndToEndTest {
  private static final ConvergencePolicy SWITCH_AFTER_ROUND_1 = p -> p.round() >= 1
      ? Decision.of("test: switch after round 1", new PolicyAction.SwitchToPostCopy())
      : Decision.keepGoing();

  private SimPair pair;
  private SimHost source;
  private SimHost dest;
  private MigrationReceiver receiver;

  @BeforeEach
  void hosts() {
    pair = new SimPair("pc");
    source = pair.source;
    dest = pair.dest;
    receiver = pair.receiver;
  }

  @AfterEach
  void cleanUp() {
    pair.close();
  }

  /** A source VM whose memory was filled with random bytes, recording its memory when paused. */
  private final class Source {
    final SimVm sim;
    final ObservedVm vm;
    final AtomicReference<byte[]> atPause = new AtomicReference<>();
    /** Writes the stamp check looks at: those after the random fill. */
    final long[] fill;

    Source(String name, DataSize memory, Workload workload) {
      sim = source.createVm(SimVmSpec.builder(name).memory(memory).vcpus(2).workload(workload).seed(17).build());
      sim.fillRandom(23);
      fill = sim.writesAfterFill();
      vm = new ObservedVm(sim) {
        @Override
        public void pause() {
          super.pause();
          atPause.compareAndSet(null, snapshot(sim.memory().orElseThrow()));
        }
      };
    }
  }

  private static byte[] snapshot(GuestMemory mem) {
    byte[] all = new byte[(int) (mem.pageCount() * mem.pageSize())];
    ByteBuffer b = ByteBuffer.wrap(all);
    for (long p = 0; p < mem.pageCount(); p++) {
      mem.readPage(p, b);
    }
    return all;
  }

  /** Every page beyond the vCPUs' slots equals the source at its pause. */
  private static void assertSameBeyondVcpuSlots(byte[] sourceAtPause, SimVm moved) {
    moved.pause();
    byte[] now = snapshot(moved.memory().orElseThrow());
    int pageSize = moved.description().pageSize();
    int slots = 32 * moved.description().vcpus();
    int differing = 0;
    long first = -1;
    for (int p = 0; p < now.length / pageSize; p++) {
      int from = p * pageSize + slots;
      int to = (p + 1) * pageSize;
      if (!Arrays.equals(now, from, to, sourceAtPause, from, to)) {
        differing++;
        if (first < 0) {
          first = p;
        }
      }
    }
    assertThat(differing).as("pages that differ from the source beyond the vCPU slots (first: %d)", first).isZero();
    moved.resume();
  }

  /**
   * Every vCPU slot of every page holds the stamp of that vCPU's last write to it (written after the
   * fill), on the source before the pause or here after the resume: no page arrived stale or got lost.
   */
  private static void assertStampsCurrent(Source src, SimVm moved) {
    moved.pause();
    SimVm.StampReport stamps = moved.checkStamps(src.fill);
    moved.resume();
    assertThat(stamps.checked()).as("slots whose last write the stamp check knows").isPositive();
    assertThat(stamps.wrong()).as("slots that do not show their vCPU's last write: %s", stamps.first()).isZero();
  }

  private MigrationOptions.Builder postCopyOptions() {
    return MigrationOptions.builder().allowPostCopy(true).maxDowntime(Duration.ofMillis(100))
        .bandwidthLimit(Bandwidth.mbps(40)).policy(SWITCH_AFTER_ROUND_1)
        .postCopyRecoveryTimeout(Duration.ofSeconds(20));
  }

  @Test
  void postCopy_dirtyRateFarAboveBandwidth_completesWithDemandFaultsAndNothingLost() throws Exception {
    Source src = new Source("busy", DataSize.mib(16), Workload.uniform(40_000));
    List<MigrationEvent> events = new CopyOnWriteArrayList<>();
    MigrationSession s = SourceMigration.start(source.info(), src.vm, receiver.target(),
        postCopyOptions().listener(events::add).build());
    MigrationResult r = s.completion().get(60, TimeUnit.SECONDS);

    assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.COMPLETED);
    assertThat(r.downtime().orElseThrow()).isLessThan(Duration.ofMillis(100)).isPositive();
    PostCopyStats pc = r.postCopy().orElseThrow();
    assertThat(pc.faults()).as("vCPUs blocked on missing pages").isPositive();
    assertThat(pc.pagesRequested()).as("pages served on demand").isPositive();
    assertThat(pc.pagesPushed()).isPositive();
    assertThat(pc.blockedTotal()).isPositive();
    assertThat(pc.blockedMax()).isGreaterThanOrEqualTo(pc.blockedP99()).isGreaterThanOrEqualTo(pc.blockedP50());
    assertThat(pc.notMeasured()).as("the destination reported its faults at the end").isEmpty();
    assertThat(events).filteredOn(MigrationEvent.PostCopyProgress.class::isInstance)
        .map(e -> ((MigrationEvent.PostCopyProgress) e).stats())
        .as("before the destination reports, its faults are not known, not 0")
        .allSatisfy(st -> assertThat(st.notMeasured()).hasValue(PostCopySource.NOT_YET_REPORTED));
    assertThat(events).anyMatch(e -> e instanceof MigrationEvent.PhaseChanged p && p.to() == Phase.POST_COPY);
    assertThat(r.actions()).anyMatch(a -> a.startsWith("switch to post-copy"));

    assertThat(src.sim.state()).isEqualTo(VmState.STOPPED);
    assertThat(src.vm.resumes).as("the source is never resumed").isZero();
    SimVm moved = dest.vm("busy").orElseThrow();
    assertThat(moved.state()).isEqualTo(VmState.RUNNING);
    long w = moved.writesDone();
    Thread.sleep(100);
    assertThat(moved.writesDone()).as("the workload runs on the destination").isGreaterThan(w);
    assertSameBeyondVcpuSlots(src.atPause.get(), moved);
    assertStampsCurrent(src, moved);
  }

  @Test
  void stampCheck_anOldCopyLandingOverAPageTheGuestRewroteHere_isCaught_thoughTheBytesBeyondTheSlotsAgree()
      throws Exception {
    Source src = new Source("stale", DataSize.mib(8), Workload.uniform(40_000));
    MigrationResult r = SourceMigration.start(source.info(), src.vm, receiver.target(), postCopyOptions().build())
        .completion().get(60, TimeUnit.SECONDS);
    assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.COMPLETED);
    assertThat(r.postCopy()).isPresent();
    SimVm moved = dest.vm("stale").orElseThrow();
    long w = moved.writesDone();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (moved.writesDone() < w + 2_000 && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertStampsCurrent(src, moved);

    // The broken destination path, by hand: the copy of a page from the source's pause lands again
    // after the guest here rewrote that page (a late or repeated delivery overwriting a newer page).
    moved.pause();
    byte[] old = src.atPause.get();
    GuestMemory mem = moved.memory().orElseThrow();
    int pageSize = mem.pageSize();
    ByteBuffer now = ByteBuffer.allocate(pageSize);
    long rewritten = -1;
    for (long p = 0; p < mem.pageCount() && rewritten < 0; p++) {
      now.clear();
      mem.readPage(p, now);
      if (!Arrays.equals(now.array(), 0, 64, old, (int) (p * pageSize), (int) (p * pageSize) + 64)) {
        rewritten = p; // a vCPU slot differs from the pause: written here since
      }
    }
    assertThat(rewritten).as("a page the guest rewrote on the destination").isNotNegative();
    mem.writePage(rewritten, ByteBuffer.wrap(old, (int) (rewritten * pageSize), pageSize));
    SimVm.StampReport stamps = moved.checkStamps(src.fill);
    assertThat(stamps.wrong()).as("slots showing an older write than their last").isPositive();
    String overwritten = "page " + rewritten + " ";
    assertThat(stamps.first()).anyMatch(d -> d.startsWith(overwritten));
    moved.resume();
    // The byte comparison beyond the slots cannot see it: every copy of a page agrees there.
    assertSameBeyondVcpuSlots(old, moved);
  }

  @Test
  void switchToPostCopy_askedByTheApplication_completes() throws Exception {
    Source src = new Source("asked", DataSize.mib(8), Workload.hotSet(30_000));
    MigrationSession s = SourceMigration.start(source.info(), src.vm, receiver.target(),
        postCopyOptions().policy(ConvergencePolicy.untilDeadline()).maxDowntime(Duration.ofMillis(5)).build());
    s.addListener(e -> {
      if (e instanceof MigrationEvent.RoundCompleted rc && rc.stats().round() == 0) {
        assertThat(s.switchToPostCopy()).isTrue();
      }
    });
    MigrationResult r = s.completion().get(60, TimeUnit.SECONDS);
    assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.COMPLETED);
    assertThat(r.postCopy()).isPresent();
    assertSameBeyondVcpuSlots(src.atPause.get(), dest.vm("asked").orElseThrow());
    assertStampsCurrent(src, dest.vm("asked").orElseThrow());
  }

  @Test
  void switchToPostCopy_notAllowed_isRefusedAndThePolicyFallsThrough() throws Exception {
    Source src = new Source("no-pc", DataSize.mib(8), Workload.uniform(Workload.MAX_RATE));
    ConvergencePolicy postCopyThenAbort = p -> p.round() < 2
        ? Decision.of("try post-copy", new PolicyAction.SwitchToPostCopy())
        : Decision.of("give up", new PolicyAction.Abort("no post-copy"));
    MigrationSession s = SourceMigration.start(source.info(), src.vm, receiver.target(),
        MigrationOptions.builder().maxDowntime(Duration.ofNanos(1)).policy(postCopyThenAbort).build());
    assertThat(s.switchToPostCopy()).isFalse();
    MigrationResult r = s.completion().get(30, TimeUnit.SECONDS);
    assertThat(r.outcome()).isEqualTo(Outcome.ROLLED_BACK);
    assertThat(r.actions()).anyMatch(a -> a.contains("post-copy refused") && a.contains("allowPostCopy"));
    assertThat(src.sim.state()).isEqualTo(VmState.RUNNING);
    assertThat(dest.vms()).isEmpty();
  }

  @Test
  void postCopy_linkCutThenBack_pausesTheGuestRecoversAndLosesNothing() throws Exception {
    Source src = new Source("flaky", DataSize.mib(16), Workload.uniform(40_000));
    try (FaultyLink proxy = FaultyLink.to(receiver.address())) {
      AtomicReference<VmState> stateDuringOutage = new AtomicReference<>();
      MigrationSession s = SourceMigration.start(source.info(), src.vm, new MigrationTarget(proxy.address(), ""),
          postCopyOptions().bandwidthLimit(Bandwidth.mbps(20)).build());
      s.addListener(e -> {
        if (e instanceof MigrationEvent.PostCopyProgress && stateDuringOutage.get() == null
            && proxy.forwarded() > 0) {
          stateDuringOutage.set(VmState.INCOMING); // claim the first event only
          Thread t = new Thread(() -> {
            proxy.down(true);
            proxy.cut();
            try {
              Thread.sleep(600);
              stateDuringOutage.set(dest.vm("flaky").map(SimVm::state).orElse(null));
            } catch (InterruptedException ignored) {
              Thread.currentThread().interrupt();
            }
            proxy.down(false);
          });
          t.start();
        }
      });
      MigrationResult r = s.completion().get(60, TimeUnit.SECONDS);
      assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.COMPLETED);
      assertThat(r.postCopy().orElseThrow().recoveries()).isGreaterThanOrEqualTo(1);
      assertThat(stateDuringOutage.get()).as("the guest was paused while the link was out").isEqualTo(VmState.PAUSED);
      assertThat(src.vm.resumes).isZero();
      SimVm moved = dest.vm("flaky").orElseThrow();
      assertThat(moved.state()).isEqualTo(VmState.RUNNING);
      assertSameBeyondVcpuSlots(src.atPause.get(), moved);
    }
  }

  @Test
  void postCopy_linkDownPastTheRecoveryTimeout_reportsTheGuestLostAndNeverResumesTheSource() throws Exception {
    Source src = new Source("doomed", DataSize.mib(16), Workload.uniform(40_000));
    try (FaultyLink proxy = FaultyLink.to(receiver.address())) {
      MigrationSession s = SourceMigration.start(source.info(), src.vm, new MigrationTarget(proxy.address(), ""),
          postCopyOptions().bandwidthLimit(Bandwidth.mbps(20)).postCopyRecoveryTimeout(Duration.ofSeconds(1)).build());
      s.addListener(e -> {
        if (e instanceof MigrationEvent.PostCopyProgress) {
          proxy.down(true);
          proxy.cut();
        }
      });
      MigrationResult r = s.completion().get(60, TimeUnit.SECONDS);
      assertThat(r.outcome()).isEqualTo(Outcome.GUEST_LOST);
      assertThat(r.cause()).containsInstanceOf(GuestLostException.class);
      GuestLostException lost = (GuestLostException) r.cause().orElseThrow();
      assertThat(lost.missingPages()).isPositive();
      assertThat(lost.firstMissing()).isNotEmpty();
      assertThat(src.vm.resumes).as("the stale source is never resumed").isZero();
      assertThat(src.sim.state()).isEqualTo(VmState.PAUSED);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (dest.vm("doomed").isPresent() && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      assertThat(dest.vm("doomed")).as("the destination stopped its incomplete copy").isEmpty();
    }
  }
}
