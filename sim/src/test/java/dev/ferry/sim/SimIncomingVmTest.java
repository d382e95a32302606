package dev.ferry.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.spi.CpuInfo;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.DriverException;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmId;
import dev.ferry.spi.VmState;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Receiving a VM: a hand-made migration from one sim host to another, device state, discard, refusals. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SimIncomingVmTest {
  private final SimHost source = SimHost.named("incoming-src");
  private final SimHost dest = SimHost.named("incoming-dst");

  @AfterEach
  void destroy() {
    source.destroy();
    dest.destroy();
  }

  @Test
  void activate_afterCopyingMemoryAndState_continuesTheWorkloadOnTheDestination() throws InterruptedException {
    SimVm src = source.createVm(SimVmSpec.builder("web-1").memory(DataSize.mib(16)).vcpus(1)
        .workload(Workload.sequential(20_000)).seed(11).build());
    awaitWrites(src, 300);
    src.pause();
    long writes = src.writesDone();
    byte[] blob = src.deviceState().orElseThrow().save();

    SimIncomingVm in = dest.prepareIncoming(src.description());
    assertThat(in.state()).isEqualTo(VmState.INCOMING);
    assertThat(dest.vms()).isEmpty();
    copyMemory(src.guestMemory(), in.guestMemory());
    assertThat(in.memoryDigest()).isEqualTo(src.memoryDigest());
    in.loadDeviceState(blob);
    src.stop();

    SimVm vm = in.activateVm();
    assertThat(vm.state()).isEqualTo(VmState.RUNNING);
    assertThat(dest.vm("web-1")).containsSame(vm);
    assertThat(vm.description().id()).isEqualTo(src.description().id());
    assertThat(vm.workload()).isEqualTo(Workload.sequential(20_000));
    assertThat(vm.writesDone()).isEqualTo(writes);
    awaitWrites(vm, writes + 100);
    vm.pause();
    // The destination's vCPU continued the scan where the source stopped, with its counter.
    ByteBuffer page = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
    vm.guestMemory().readPage(writes, page);
    assertThat(page.getLong(0)).isEqualTo((1L << 48) | (writes + 1));
  }

  @Test
  void activate_withoutDeviceState_runsIdle() {
    VmDescription d = description("blank", "sim-x86", Set.of());
    SimVm vm = dest.prepareIncoming(d).activateVm();
    assertThat(vm.workload()).isEqualTo(Workload.idle());
    assertThat(vm.state()).isEqualTo(VmState.RUNNING);
  }

  @Test
  void discard_freesMemoryAndLeavesHostAsBefore() {
    DataSize committed = dest.committedMemory();
    VmDescription d = description("gone", "sim-x86", Set.of());
    SimIncomingVm in = dest.prepareIncoming(d);
    assertThat(dest.incomingVms()).containsExactly(in);
    assertThat(dest.committedMemory()).isEqualTo(committed.plus(d.memory()));
    in.memory().writePage(5, ByteBuffer.allocate(4096).putLong(0, 1L));
    assertThat(in.guestMemory().allocatedBytes()).isPositive();
    in.discard();
    assertThat(in.state()).isEqualTo(VmState.STOPPED);
    assertThat(in.guestMemory().allocatedBytes()).isZero();
    assertThat(dest.incomingVms()).isEmpty();
    assertThat(dest.vms()).isEmpty();
    assertThat(dest.committedMemory()).isEqualTo(committed);
    assertThatThrownBy(() -> in.memory().readPage(0, ByteBuffer.allocate(4096)))
        .isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(in::activate).isInstanceOf(IllegalStateException.class);
    dest.prepareIncoming(d).discard(); // the name is free again
  }

  @Test
  void prepareIncoming_duplicateNameOrId_refused() {
    SimVm existing = dest.createVm(SimVmSpec.builder("taken").memory(DataSize.mib(4)).build());
    VmDescription sameName = new VmDescription(new VmId("other-id"), "taken", DataSize.mib(4), 4096, 1,
        SimHost.DEFAULT_CPU);
    assertThatThrownBy(() -> dest.prepareIncoming(sameName)).isInstanceOf(DriverException.class)
        .hasMessageContaining("already has a VM named taken");
    VmDescription sameId = new VmDescription(existing.description().id(), "fresh", DataSize.mib(4), 4096, 1,
        SimHost.DEFAULT_CPU);
    assertThatThrownBy(() -> dest.prepareIncoming(sameId)).isInstanceOf(DriverException.class)
        .hasMessageContaining("id");
    SimIncomingVm in = dest.prepareIncoming(description("twice", "sim-x86", Set.of()));
    assertThatThrownBy(() -> dest.prepareIncoming(description("twice", "sim-x86", Set.of())))
        .isInstanceOf(DriverException.class);
    in.discard();
  }

  @Test
  void prepareIncoming_cpuHostCannotRun_refused() {
    assertThatThrownBy(() -> dest.prepareIncoming(description("arm", "sim-arm", Set.of())))
        .isInstanceOf(DriverException.class).hasMessageContaining("sim-arm");
    assertThatThrownBy(() -> dest.prepareIncoming(description("avx512", "sim-x86", Set.of("avx512f"))))
        .isInstanceOf(DriverException.class).hasMessageContaining("avx512f");
    assertThat(dest.incomingVms()).isEmpty();
  }

  @Test
  void prepareIncoming_beyondHostMemory_refused() {
    SimHost small = SimHost.named("incoming-small", DataSize.gib(1), SimHost.DEFAULT_CPU);
    try {
      VmDescription big = new VmDescription(new VmId("big"), "big", DataSize.gib(2), 4096, 1, SimHost.DEFAULT_CPU);
      assertThatThrownBy(() -> small.prepareIncoming(big)).isInstanceOf(DriverException.class)
          .hasMessageContaining("not enough");
    } finally {
      small.destroy();
    }
  }

  @Test
  void faults_failNextPrepareIncomingAndActivate_fireOnce() {
    VmDescription d = description("faulty", "sim-x86", Set.of());
    dest.faults().failNextPrepareIncoming("disk full");
    assertThatThrownBy(() -> dest.prepareIncoming(d)).isInstanceOf(DriverException.class)
        .hasMessageContaining("disk full");
    SimIncomingVm in = dest.prepareIncoming(d);
    dest.faults().failNextActivate("lost power");
    assertThatThrownBy(in::activate).isInstanceOf(DriverException.class).hasMessageContaining("lost power");
    assertThat(in.state()).isEqualTo(VmState.INCOMING);
    assertThat(in.activate().state()).isEqualTo(VmState.RUNNING);
  }

  @Test
  void deviceState_corruptBlob_rejectedByChecksum() {
    SimVm src = source.createVm(SimVmSpec.builder("state").memory(DataSize.mib(4)).vcpus(2)
        .workload(Workload.uniform(10_000)).build());
    src.pause();
    byte[] blob = src.deviceState().orElseThrow().save();
    assertThat(blob).hasSize((int) SimVmSpec.DEFAULT_DEVICE_STATE_SIZE.bytes());
    SimIncomingVm in = dest.prepareIncoming(src.description());
    blob[blob.length / 2] ^= 0x40;
    assertThatThrownBy(() -> in.loadDeviceState(blob)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("checksum");
    blob[blob.length / 2] ^= 0x40;
    in.loadDeviceState(blob);
  }

  @Test
  void deviceState_otherVmShape_rejected() {
    SimVm src = source.createVm(SimVmSpec.builder("shape").memory(DataSize.mib(4)).vcpus(2).build());
    src.pause();
    byte[] blob = src.deviceState().orElseThrow().save();
    VmDescription other = new VmDescription(new VmId("x"), "x", DataSize.mib(8), 4096, 2, SimHost.DEFAULT_CPU);
    SimIncomingVm in = dest.prepareIncoming(other);
    assertThatThrownBy(() -> in.loadDeviceState(blob)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("pages");
  }

  @Test
  void deviceState_changesWhileRunningAndSaveNeedsPause() throws InterruptedException {
    SimVm vm = source.createVm(SimVmSpec.builder("regs").memory(DataSize.mib(4)).deviceStateSize(DataSize.kib(1))
        .workload(Workload.uniform(50_000)).build());
    assertThatThrownBy(() -> vm.deviceState().orElseThrow().save()).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("paused");
    vm.pause();
    byte[] a = vm.deviceState().orElseThrow().save();
    assertThat(a).hasSize(1024);
    vm.resume();
    awaitWrites(vm, vm.writesDone() + 100);
    vm.pause();
    byte[] b = vm.deviceState().orElseThrow().save();
    assertThat(b).isNotEqualTo(a);
  }

  private static VmDescription description(String name, String model, Set<String> features) {
    return new VmDescription(new VmId("id-" + name), name, DataSize.mib(8), 4096, 1, new CpuInfo(model, features));
  }

  private static void copyMemory(SimMemory from, SimMemory to) {
    ByteBuffer buf = ByteBuffer.allocateDirect(from.pageSize());
    for (long p = 0; p < from.pageCount(); p++) {
      buf.clear();
      from.readPage(p, buf);
      buf.flip();
      to.writePage(p, buf);
    }
  }

  private static void awaitWrites(SimVm vm, long atLeast) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (vm.writesDone() < atLeast) {
      assertThat(System.nanoTime()).as("waiting for %d writes", atLeast).isLessThan(deadline);
      Thread.sleep(1);
    }
  }
}
