package dev.ferry.kvm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.spi.DataSize;
import dev.ferry.spi.GuestMemory;
import dev.ferry.spi.PostCopyIncoming;
import dev.ferry.spi.VmDriver;
import dev.ferry.spi.VmState;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Post-copy on the destination without the engine: a paused test guest's device state goes to an
 * incoming VM whose every page is marked missing; activated, its vCPU blocks on the first page it
 * touches (a fault the listener is told of), a pause holds it even while every page is supplied,
 * and resume lets it run on, its heartbeat continuing with no CORRUPT. Skipped, saying why, where
 * /dev/kvm cannot be used or no userfaultfd can be made.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class KvmPostCopyTest {
  private KvmHost source;
  private KvmHost destination;

  @BeforeEach
  void setUp() {
    TestGuests.requireKvm();
    org.junit.jupiter.api.Assumptions.assumeTrue(KvmPostCopy.available(),
        "SKIPPED: this process may not create a userfaultfd (vm.unprivileged_userfaultfd?)");
    source = KvmHost.named("pc-a");
    destination = KvmHost.named("pc-b");
  }

  @AfterEach
  void tearDown() {
    if (source != null) {
      source.destroy();
    }
    if (destination != null) {
      destination.destroy();
    }
  }

  @Test
  void activate_allPagesMissing_vcpuBlocksOnFault_pauseHoldsItWhilePagesArrive_resumeRunsOn() throws Exception {
    TestGuests.Serial src = new TestGuests.Serial();
    TestGuests.Serial dst = new TestGuests.Serial();
    source.addSerialListener(src);
    destination.addSerialListener(dst);
    KvmVm vm = source.createVm(KvmVmSpec.builder("guest").memory(DataSize.mib(16)).kernel(TestGuests.testGuest())
        .cmdline("mb=8 rate=8").build());
    assertThat(src.await("HB n=2 ", 0, 15_000)).isPresent();
    vm.pause();
    byte[] state = vm.deviceState().orElseThrow().save();
    List<Long> before = src.heartbeats();

    KvmIncomingVm in = destination.prepareIncoming(vm.description());
    in.loadDeviceState(state);
    PostCopyIncoming pc = in.postCopy().orElseThrow();
    long pages = vm.description().pageCount();
    long[] all = new long[(int) ((pages + 63) >>> 6)];
    for (long p = 0; p < pages; p++) {
      all[(int) (p >>> 6)] |= 1L << p;
    }
    pc.markMissing(all);
    assertThat(pc.missingPages()).isEqualTo(pages);
    ConcurrentLinkedQueue<Long> faults = new ConcurrentLinkedQueue<>();
    VmDriver moved = pc.activate(faults::add);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (faults.isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertThat(faults).as("the vCPU's first fault").isNotEmpty();
    long first = faults.peek();
    assertThat(first).as("the first page touched is in the kernel, at 1 MiB").isBetween(256L, 300L);

    moved.pause();                                  // must return although the vCPU is blocked in the kernel
    assertThat(moved.state()).isEqualTo(VmState.PAUSED);
    KvmVm kvm = (KvmVm) moved;
    GuestMemory from = vm.memory().orElseThrow();
    ByteBuffer page = ByteBuffer.allocateDirect(from.pageSize());
    for (long p = 0; p < pages; p++) {
      page.clear();
      from.readPage(p, page);
      page.flip();
      assertThat(pc.supplyPage(p, page)).isTrue();
    }
    assertThat(pc.missingPages()).isZero();
    page.clear();
    from.readPage(0, page);
    page.flip();
    assertThat(pc.supplyPage(0, page)).as("a page already present is not written again").isFalse();
    Thread.sleep(200);
    assertThat(kvm.exits()).as("guest exits while paused with every page present").isZero();
    assertThat(dst.lines()).isEmpty();

    moved.resume();
    assertThat(dst.await("HB ", 0, 10_000)).as("heartbeat on the destination after resume").isPresent();
    int n = dst.lines().size();
    assertThat(dst.await("HB ", n, 5_000)).isPresent();
    List<Long> after = dst.heartbeats();
    assertThat(after.get(0)).isEqualTo(before.get(before.size() - 1) + 1);
    assertThat(dst.sawCorrupt()).as("destination serial: %s", dst.lines()).isFalse();
    PostCopyIncoming.FaultStats stats = pc.faultStats();
    System.out.println("post-copy faults: " + stats + ", first page " + first);
    assertThat(stats.faults()).isGreaterThanOrEqualTo(1);
    vm.stop();
  }
}
