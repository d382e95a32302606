package dev.ferry.sim;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.spi.DataSize;
import dev.ferry.spi.PostCopyIncoming;
import dev.ferry.spi.VmState;
import java.nio.ByteBuffer;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A VM activated with pages missing: vCPUs really block on them, and a supplied page never overwrites. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SimPostCopyTest {
  private final SimHost source = SimHost.named("postcopy-src");
  private final SimHost dest = SimHost.named("postcopy-dst");

  @AfterEach
  void destroy() {
    source.destroy();
    dest.destroy();
  }

  private static long[] all(long pages) {
    long[] b = new long[(int) ((pages + 63) >>> 6)];
    java.util.Arrays.fill(b, -1L);
    return b;
  }

  @Test
  void vcpuTouchingMissingPage_blocksReportsTheFaultAndResumesWhenSupplied() throws Exception {
    SimVm src = source.createVm(SimVmSpec.builder("pc").memory(DataSize.mib(4)).vcpus(2)
        .workload(Workload.uniform(20_000)).seed(3).build());
    Thread.sleep(50);
    src.pause();
    byte[] state = src.deviceState().orElseThrow().save();
    SimIncomingVm in = dest.prepareIncoming(src.description());
    in.loadDeviceState(state);
    PostCopyIncoming pc = in.postCopy().orElseThrow();
    long pages = src.description().pageCount();
    pc.markMissing(all(pages));
    assertThat(pc.missingPages()).isEqualTo(pages);

    Set<Long> faulted = ConcurrentHashMap.newKeySet();
    SimVm vm = (SimVm) pc.activate(faulted::add);
    long writesAtStart = vm.writesDone();
    Thread.sleep(200);
    assertThat(faulted).as("each vCPU blocked on a missing page and reported it").isNotEmpty().hasSizeLessThanOrEqualTo(2);
    assertThat(vm.writesDone() - writesAtStart).as("blocked vCPUs write nothing").isLessThanOrEqualTo(2);
    assertThat(pc.faultStats().faults()).isEqualTo(faulted.size());

    // Supply every page from the paused source, as post-copy would.
    ByteBuffer buf = ByteBuffer.allocateDirect(4096);
    for (long p = 0; p < pages; p++) {
      buf.clear();
      src.guestMemory().readPage(p, buf);
      buf.flip();
      assertThat(pc.supplyPage(p, buf)).isTrue();
    }
    assertThat(pc.missingPages()).isZero();
    long before = vm.writesDone();
    Thread.sleep(100);
    assertThat(vm.writesDone()).as("vCPUs run once their pages arrived").isGreaterThan(before);
    assertThat(pc.faultStats().blockedNanosTotal()).isPositive();
    assertThat(pc.faultStats().blockedNanosMax()).isGreaterThanOrEqualTo(pc.faultStats().blockedNanosP50());
  }

  @Test
  void supplyingAPresentPage_doesNotOverwriteWhatTheGuestWrote() throws Exception {
    SimVm src = source.createVm(SimVmSpec.builder("ow").memory(DataSize.mib(1)).vcpus(1)
        .workload(Workload.sequential(50_000)).seed(5).build());
    src.pause();
    byte[] state = src.deviceState().orElseThrow().save();
    SimIncomingVm in = dest.prepareIncoming(src.description());
    in.loadDeviceState(state);
    PostCopyIncoming pc = in.postCopy().orElseThrow();
    long[] one = new long[(int) ((src.description().pageCount() + 63) >>> 6)];
    one[0] = 1L; // page 0 missing
    pc.markMissing(one);
    SimVm vm = (SimVm) pc.activate(p -> { });
    ByteBuffer page0 = ByteBuffer.allocate(4096);
    assertThat(pc.supplyPage(0, page0)).isTrue();
    // A sequential scan writes every page once per pass: after a pass, page 0 holds a guest write.
    long target = vm.writesDone() + src.description().pageCount() + 1;
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (vm.writesDone() < target && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    vm.pause();
    ByteBuffer written = ByteBuffer.allocate(4096);
    vm.guestMemory().readPage(0, written);
    assertThat(written.array()).as("the guest wrote page 0").isNotEqualTo(new byte[4096]);
    long digest = vm.memoryDigest();
    ByteBuffer stale = ByteBuffer.allocate(4096);
    assertThat(pc.supplyPage(0, stale)).as("page 0 is present: a late copy is ignored").isFalse();
    assertThat(pc.supplyZeroPage(0)).isFalse();
    assertThat(vm.memoryDigest()).isEqualTo(digest);
  }

  @Test
  void pause_whileVcpusWaitForPages_returnsAndStopsThem() throws Exception {
    SimVm src = source.createVm(SimVmSpec.builder("pz").memory(DataSize.mib(2)).vcpus(2)
        .workload(Workload.uniform(Workload.MAX_RATE)).seed(9).build());
    src.pause();
    byte[] state = src.deviceState().orElseThrow().save();
    SimIncomingVm in = dest.prepareIncoming(src.description());
    in.loadDeviceState(state);
    PostCopyIncoming pc = in.postCopy().orElseThrow();
    pc.markMissing(all(src.description().pageCount()));
    SimVm vm = (SimVm) pc.activate(p -> { });
    Thread.sleep(50);
    vm.pause();
    assertThat(vm.state()).isEqualTo(VmState.PAUSED);
    ByteBuffer zero = ByteBuffer.allocate(4096);
    for (long p = 0; p < src.description().pageCount(); p++) {
      zero.clear();
      pc.supplyPage(p, zero);
    }
    long paused = vm.writesDone();
    Thread.sleep(100);
    assertThat(vm.writesDone()).as("paused: no writes even with every page present").isEqualTo(paused);
    vm.resume();
    Thread.sleep(100);
    assertThat(vm.writesDone()).isGreaterThan(paused);
  }
}
