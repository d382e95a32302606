package dev.ferry.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.spi.DataSize;
import dev.ferry.spi.VmState;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Pause, stop, workloads, rates and throttle of a running simulated VM. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SimVmTest {
  private final SimHost host = SimHost.named("vm-test");

  @AfterEach
  void destroy() {
    host.destroy();
  }

  private SimVm vm(String name, Workload w, int vcpus, DataSize memory) {
    return host.createVm(SimVmSpec.builder(name).memory(memory).vcpus(vcpus).workload(w).seed(42).build());
  }

  @Test
  void fillRandom_writesEveryPageNonZero_andIsRepeatableBySeed() {
    SimVm a = host.createVm(SimVmSpec.builder("fill-a").memory(DataSize.mib(2)).build());
    SimVm b = host.createVm(SimVmSpec.builder("fill-b").memory(DataSize.mib(2)).build());
    SimVm c = host.createVm(SimVmSpec.builder("fill-c").memory(DataSize.mib(2)).build());
    a.fillRandom(5);
    b.fillRandom(5);
    c.fillRandom(6);
    assertThat(a.memoryDigest()).isEqualTo(b.memoryDigest()).isNotEqualTo(c.memoryDigest());
    ByteBuffer page = ByteBuffer.allocate(4096);
    for (long p = 0; p < a.description().pageCount(); p++) {
      page.clear();
      a.guestMemory().readPage(p, page);
      assertThat(page.array()).as("page %d", p).isNotEqualTo(new byte[4096]);
    }
  }

  @Test
  void pause_maxRateVcpus_noWriteUntilResume() throws InterruptedException {
    SimVm vm = vm("pause", Workload.uniform(Workload.MAX_RATE), 4, DataSize.mib(16));
    awaitWrites(vm, 10_000);
    vm.pause();
    assertThat(vm.state()).isEqualTo(VmState.PAUSED);
    long writes = vm.writesDone();
    long digest = vm.memoryDigest();
    Thread.sleep(200);
    assertThat(vm.writesDone()).isEqualTo(writes);
    assertThat(vm.memoryDigest()).isEqualTo(digest);
    vm.resume();
    assertThat(vm.state()).isEqualTo(VmState.RUNNING);
    awaitWrites(vm, writes + 10_000);
    assertThat(vm.memoryDigest()).isNotEqualTo(digest);
  }

  @Test
  void pauseResume_manyQuickCycles_eachPauseIsImmediate() throws InterruptedException {
    SimVm vm = vm("flip", Workload.uniform(Workload.MAX_RATE), 3, DataSize.mib(8));
    long last = -1;
    for (int i = 0; i < 30; i++) {
      vm.pause();
      long writes = vm.writesDone();
      long digest = vm.memoryDigest();
      assertThat(writes).as("cycle %d: vCPUs wrote while running", i).isGreaterThan(last);
      Thread.sleep(3);
      assertThat(vm.writesDone()).as("cycle %d: write after pause()", i).isEqualTo(writes);
      assertThat(vm.memoryDigest()).as("cycle %d: memory changed after pause()", i).isEqualTo(digest);
      last = writes;
      vm.resume();
      awaitWrites(vm, writes + 1);
    }
  }

  @Test
  void stop_endsThreadsFreesMemoryAndUnlists() throws InterruptedException {
    SimVm vm = vm("stopme", Workload.uniform(Workload.MAX_RATE), 2, DataSize.mib(32));
    awaitWrites(vm, 1000);
    assertThat(vm.guestMemory().allocatedBytes()).isPositive();
    vm.stop();
    assertThat(vm.state()).isEqualTo(VmState.STOPPED);
    assertThat(vm.guestMemory().allocatedBytes()).isZero();
    assertThat(host.vm("stopme")).isEmpty();
    assertThat(vcpuThreads("stopme")).isZero();
    vm.stop(); // idempotent
    assertThatThrownBy(vm::pause).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void idleVm_writesNothingAndCostsNoCpu() throws InterruptedException {
    SimVm vm = vm("idle", Workload.idle(), 4, DataSize.mib(8));
    Thread.sleep(300);
    assertThat(vm.writesDone()).isZero();
    assertThat(vm.guestMemory().allocatedBytes()).isZero();
    ThreadMXBean mx = ManagementFactory.getThreadMXBean();
    long cpuNanos = 0;
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (t.getName().startsWith("ferry-sim-vm-test-idle-vcpu")) {
        cpuNanos += Math.max(0, mx.getThreadCpuTime(t.getId()));
      }
    }
    assertThat(cpuNanos).as("CPU time of 4 idle vCPUs over 300 ms").isLessThan(TimeUnit.MILLISECONDS.toNanos(30));
  }

  @Test
  void uniformWorkload_hitsConfiguredRateRoughly() throws InterruptedException {
    SimVm vm = vm("rate", Workload.uniform(20_000), 2, DataSize.mib(64));
    Thread.sleep(100);
    double rate = vm.measureWriteRate(Duration.ofMillis(700));
    assertThat(rate).isBetween(20_000 / 3.0, 20_000 * 3.0);
  }

  @Test
  void throttle_reducesWriteRate() throws InterruptedException {
    SimVm vm = vm("throttled", Workload.uniform(40_000), 2, DataSize.mib(64));
    Thread.sleep(100);
    double full = vm.measureWriteRate(Duration.ofMillis(500));
    vm.throttle().orElseThrow().setPercent(75);
    Thread.sleep(50);
    double throttled = vm.measureWriteRate(Duration.ofMillis(500));
    assertThat(throttled).as("rate at 75%% throttle vs %.0f unthrottled", full).isLessThan(full * 0.6);
    assertThat(throttled).isPositive();
  }

  @Test
  void throttle_unlimitedRate_reducesWriteRate() throws InterruptedException {
    SimVm vm = vm("throttled-max", Workload.uniform(Workload.MAX_RATE), 1, DataSize.mib(16));
    Thread.sleep(50);
    double full = vm.measureWriteRate(Duration.ofMillis(300));
    vm.throttle().orElseThrow().setPercent(80);
    Thread.sleep(50);
    double throttled = vm.measureWriteRate(Duration.ofMillis(300));
    assertThat(throttled).as("rate at 80%% throttle vs %.0f unthrottled", full).isLessThan(full * 0.6);
  }

  @Test
  void sequentialWorkload_writesNonZeroDataToEachPageInOrder() throws InterruptedException {
    SimVm vm = vm("seq", Workload.sequential(20_000), 1, DataSize.mib(16));
    awaitWrites(vm, 500);
    vm.pause();
    long written = vm.writesDone();
    assertThat(written).isLessThan(vm.guestMemory().pageCount());
    ByteBuffer buf = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
    for (long p = 0; p < written + 10; p++) {
      buf.clear();
      vm.guestMemory().readPage(p, buf);
      boolean zero = SimMemoryTest.isZero(buf);
      assertThat(zero).as("page %d (written: %s)", p, p < written).isEqualTo(p >= written);
      if (p < written) {
        // The vCPU's slot: tag (vCPU 1 in the top bits) and its write counter.
        assertThat(buf.getLong(0)).isEqualTo((1L << 48) | (p + 1));
      }
    }
  }

  @Test
  void hotSetWorkload_concentratesWritesOnHotPages() throws InterruptedException {
    SimVm vm = vm("hot", Workload.hotSet(Workload.MAX_RATE, 0.10, 0.90), 2, DataSize.mib(16));
    SimDirtyLog log = vm.log();
    log.start();
    Thread.sleep(5);
    vm.pause();
    long[] bitmap = new long[log.bitmapWords()];
    log.syncAndClear(bitmap);
    WorkloadCursor c = new WorkloadCursor(vm.workload(), vm.seed(), 0, 2, vm.guestMemory().pageCount());
    long hotDirty = 0;
    long coldDirty = 0;
    for (int p = 0; p < vm.guestMemory().pageCount(); p++) {
      if ((bitmap[p >>> 6] & (1L << p)) != 0) {
        if (c.isHot(p)) {
          hotDirty++;
        } else {
          coldDirty++;
        }
      }
    }
    // Hot pages are 10% of memory; a short burst dirties nearly all of them and few cold ones.
    assertThat(hotDirty).isGreaterThan(c.hotPages() / 2);
    assertThat((double) hotDirty / c.hotPages()).isGreaterThan((double) coldDirty / (4096 - c.hotPages()));
  }

  @Test
  void unlimitedRate_writesFast() throws InterruptedException {
    SimVm vm = vm("fast", Workload.uniform(Workload.MAX_RATE), 1, DataSize.mib(16));
    assertThat(vm.measureWriteRate(Duration.ofMillis(300))).isGreaterThan(100_000);
  }

  private static void awaitWrites(SimVm vm, long atLeast) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (vm.writesDone() < atLeast) {
      assertThat(System.nanoTime()).as("waiting for %d writes", atLeast).isLessThan(deadline);
      Thread.sleep(1);
    }
  }

  private static long vcpuThreads(String vm) {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().startsWith("ferry-sim-vm-test-" + vm + "-vcpu") && t.isAlive()).count();
  }
}
